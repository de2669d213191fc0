;; fail: reports the error "boom" and returns 1 (function_error). The
;; instance stays healthy.
(module
  (import "baton" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "boom")
  (func (export "baton_handle") (result i32)
    (call $error_set (i32.const 0) (i32.const 4))
    (i32.const 1)))
