;; badstatus: sets status 999 (invalid_status) and returns 0.
(module
  (import "baton" "set_status" (func $set_status (param i32)))
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    (call $set_status (i32.const 999))
    (i32.const 0)))
