;; nocshared: the exports of a Go reactor built without -buildmode=c-shared
;; (baton_handle and _start, no _initialize): rejected at deploy.
(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "baton_handle") (result i32)
    i32.const 0))
