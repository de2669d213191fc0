;; identity: answers its input unchanged (the conformance stand-in for the
;; Lambda handler id_function.py, and a no-op chain task).
(module
  (import "baton" "input_len" (func $input_len (result i32)))
  (import "baton" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    (local $n i32)
    (local $need i32)
    (local.set $n (call $input_len))
    ;; grow memory to hold n bytes
    (local.set $need
      (i32.sub
        (i32.div_u (i32.add (local.get $n) (i32.const 65535)) (i32.const 65536))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (drop (memory.grow (local.get $need)))))
    (drop (call $input_read (i32.const 0) (local.get $n)))
    (drop (call $output_write (i32.const 0) (local.get $n)))
    (i32.const 0)))
