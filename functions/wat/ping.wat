;; ping: the smallest useful baton reactor, written by hand against the
;; guest ABI (docs/abi.md). Every call answers 200 "pong" as text/plain.
(module
  (import "baton" "set_header" (func $set_header (param i32 i32 i32 i32)))
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "content-type")  ;; 12 bytes at 0
  (data (i32.const 16) "text/plain")   ;; 10 bytes at 16
  (data (i32.const 32) "pong")         ;;  4 bytes at 32

  ;; baton_handle handles one invocation; 0 is success.
  (func (export "baton_handle") (result i32)
    (call $set_header (i32.const 0) (i32.const 12) (i32.const 16) (i32.const 10))
    (drop (call $output_write (i32.const 32) (i32.const 4)))
    (i32.const 0)))
