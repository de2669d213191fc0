;; loop: a reactor whose baton_handle never returns (timeout).
(module
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
