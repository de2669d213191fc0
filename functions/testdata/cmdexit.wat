;; cmdexit: a WASI command that writes "bad things" to stderr and exits
;; with code 3 (function_error, "exit code 3").
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bad things\n")              ;; 11 bytes at 0
  (data (i32.const 16) "\00\00\00\00\0b\00\00\00") ;; iovec {buf 0, len 11} at 16
  (func (export "_start")
    ;; fd_write(fd 2, iovs 16, 1 iovec, nwritten at 24)
    (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 24)))
    (call $proc_exit (i32.const 3))))
