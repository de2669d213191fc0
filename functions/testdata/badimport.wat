;; badimport: imports env.foo, which baton does not provide; rejected at
;; deploy with: unsupported import "env"."foo".
(module
  (import "env" "foo" (func $foo))
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    (call $foo)
    (i32.const 0)))
