;; sleepy: sleeps one second (WASI poll_oneoff on the monotonic clock),
;; then answers its input unchanged: a task that takes a while, for the
;; chain crash tests.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "baton" "input_len" (func $input_len (result i32)))
  (import "baton" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "baton_handle") (result i32)
    (local $n i32)
    ;; one clock subscription at 0 (48 bytes): userdata 0, tag 0 (clock),
    ;; clock id 1 (monotonic) at 16, timeout 1e9 ns at 24, precision 0,
    ;; flags 0 (relative). The event goes to 64, the count to 96.
    (i64.store (i32.const 0) (i64.const 0))
    (i64.store (i32.const 8) (i64.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 1000000000))
    (i64.store (i32.const 32) (i64.const 0))
    (i64.store (i32.const 40) (i64.const 0))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 96)))
    (local.set $n (call $input_len))
    (if (i32.gt_u (local.get $n) (i32.const 65536))
      (then (local.set $n (i32.const 65536))))
    (drop (call $input_read (i32.const 65536) (local.get $n)))
    (drop (call $output_write (i32.const 65536) (local.get $n)))
    (i32.const 0)))
