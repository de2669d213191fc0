;; sleeper: sleeps one hour in WASI poll_oneoff (a host call, where the
;; compiled code's deadline checks never run): the runtime must still stop
;; it at its deadline (timeout), and a test that hangs means it did not.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    ;; one relative clock subscription of 3600e9 ns on the monotonic clock
    (i64.store (i32.const 0) (i64.const 0))
    (i64.store (i32.const 8) (i64.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (i64.store (i32.const 32) (i64.const 0))
    (i64.store (i32.const 40) (i64.const 0))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 96)))
    (i32.const 0)))
