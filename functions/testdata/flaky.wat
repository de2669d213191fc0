;; flaky: fails a given number of times, then succeeds. Its input is a
;; decimal N; attempt K (metadata key "attempt", docs/abi.md) fails with
;; the error "failing attempt K" while K <= N, and later attempts answer
;; "ok after N". Tests of async retries and dead letters use it.
(module
  (import "baton" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "baton" "meta_get" (func $meta_get (param i32 i32 i32 i32) (result i32)))
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "baton" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  ;; 0: the input (at most 32 bytes); 64: the key; 128: "ok after ";
  ;; 256: "failing attempt " followed by the attempt number.
  (data (i32.const 64) "attempt")
  (data (i32.const 128) "ok after ")
  (data (i32.const 256) "failing attempt ")

  ;; parse reads the decimal digits of (ptr, len), ignoring anything else.
  (func $parse (param $ptr i32) (param $len i32) (result i32)
    (local $acc i32)
    (local $b i32)
    (block $done
      (loop $next
        (br_if $done (i32.le_s (local.get $len) (i32.const 0)))
        (local.set $b (i32.load8_u (local.get $ptr)))
        (if (i32.and (i32.ge_u (local.get $b) (i32.const 48)) (i32.le_u (local.get $b) (i32.const 57)))
          (then
            (local.set $acc
              (i32.add (i32.mul (local.get $acc) (i32.const 10)) (i32.sub (local.get $b) (i32.const 48))))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (local.get $acc))

  (func (export "baton_handle") (result i32)
    (local $n i32)
    (local $alen i32)
    (local.set $n (call $input_read (i32.const 0) (i32.const 32)))
    (local.set $alen (call $meta_get (i32.const 64) (i32.const 7) (i32.const 272) (i32.const 32)))
    (if (i32.le_s
          (call $parse (i32.const 272) (local.get $alen))
          (call $parse (i32.const 0) (local.get $n)))
      (then
        (call $error_set (i32.const 256) (i32.add (i32.const 16) (local.get $alen)))
        (return (i32.const 1))))
    (drop (call $output_write (i32.const 128) (i32.const 9)))
    (drop (call $output_write (i32.const 0) (local.get $n)))
    (i32.const 0)))
