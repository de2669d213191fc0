;; trap: baton_handle executes unreachable (function_trap).
(module
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    unreachable))
