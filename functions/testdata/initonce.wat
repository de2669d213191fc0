;; initonce: _initialize increments a global; baton_handle writes it in
;; decimal. Every call answers "1" if the host ran _initialize exactly once
;; for the instance.
(module
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $inits (mut i32) (i32.const 0))

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

  (func (export "_initialize")
    (global.set $inits (i32.add (global.get $inits) (i32.const 1))))

  (func (export "baton_handle") (result i32)
    (local $p i32)
    (local.set $p (call $decimal (global.get $inits)))
    (drop (call $output_write (local.get $p) (i32.sub (i32.const 64) (local.get $p))))
    (i32.const 0)))
