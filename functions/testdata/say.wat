;; say: sleeps 5ms (WASI poll_oneoff on the monotonic clock), writes its
;; input (at most 4000 bytes) and a newline to stdout, which the server
;; logs as one line tagged with the invocation, and answers the input.
;; Tests that must see which events a function ran on (the stream
;; trigger's restart test) read the log; the sleep makes a batch take a
;; while, so that a node can be stopped in the middle of it.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "baton" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 4096: the input, then "\n"; 8192: iovec {buf 4096, len n+1};
  ;; 8200: nwritten; 0: the clock subscription (48 bytes), 64: its
  ;; event, 96: the event count.
  (func (export "baton_handle") (result i32)
    (local $n i32)
    (i64.store (i32.const 0) (i64.const 0))
    (i64.store (i32.const 8) (i64.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 5000000))
    (i64.store (i32.const 32) (i64.const 0))
    (i64.store (i32.const 40) (i64.const 0))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 96)))
    (local.set $n (call $input_read (i32.const 4096) (i32.const 4000)))
    (drop (call $output_write (i32.const 4096) (local.get $n)))
    (i32.store8 (i32.add (i32.const 4096) (local.get $n)) (i32.const 10))
    (i32.store (i32.const 8192) (i32.const 4096))
    (i32.store (i32.const 8196) (i32.add (local.get $n) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 8192) (i32.const 1) (i32.const 8200)))
    (i32.const 0)))
