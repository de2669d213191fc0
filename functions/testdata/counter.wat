;; counter: counts its calls in a global and writes the count in decimal:
;; "1", "2", "3"… from one instance, which shows instance reuse.
(module
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))

  ;; $decimal writes n in decimal ending just before offset 64 and returns
  ;; the offset of its first digit.
  (func $decimal (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.const 64))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (local.get $p))

  (func (export "baton_handle") (result i32)
    (local $p i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.set $p (call $decimal (global.get $calls)))
    (drop (call $output_write (local.get $p) (i32.sub (i32.const 64) (local.get $p))))
    (i32.const 0)))
