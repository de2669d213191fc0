;; meta: reads its input as a metadata key and answers that key's value
;; from meta_get, status 404 when the key is absent; an empty input answers
;; the whole metadata JSON from meta_json. Exercises both imports with a
;; first call that only asks for the size (buf_len 0), as docs/abi.md says.
(module
  (import "baton" "input_len" (func $input_len (result i32)))
  (import "baton" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "baton" "meta_get" (func $meta_get (param i32 i32 i32 i32) (result i32)))
  (import "baton" "meta_json" (func $meta_json (param i32 i32) (result i32)))
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "baton" "set_status" (func $set_status (param i32)))
  (memory (export "memory") 1)

  ;; The key is read to offset 0 (at most 1 KiB); the value to 1024, after
  ;; growing memory when it does not fit.
  (func $room (param $n i32)
    (local $need i32)
    (local.set $need
      (i32.sub
        (i32.div_u (i32.add (i32.add (i32.const 1024) (local.get $n)) (i32.const 65535)) (i32.const 65536))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (drop (memory.grow (local.get $need))))))

  (func (export "baton_handle") (result i32)
    (local $klen i32)
    (local $vlen i32)
    (local.set $klen (call $input_read (i32.const 0) (i32.const 1024)))
    (if (i32.eqz (local.get $klen))
      (then
        (local.set $vlen (call $meta_json (i32.const 1024) (i32.const 0)))
        (call $room (local.get $vlen))
        (drop (call $meta_json (i32.const 1024) (local.get $vlen)))
        (drop (call $output_write (i32.const 1024) (local.get $vlen)))
        (return (i32.const 0))))
    (local.set $vlen (call $meta_get (i32.const 0) (local.get $klen) (i32.const 1024) (i32.const 0)))
    (if (i32.lt_s (local.get $vlen) (i32.const 0))
      (then
        (call $set_status (i32.const 404))
        (return (i32.const 0))))
    (call $room (local.get $vlen))
    (drop (call $meta_get (i32.const 0) (local.get $klen) (i32.const 1024) (local.get $vlen)))
    (drop (call $output_write (i32.const 1024) (local.get $vlen)))
    (i32.const 0)))
