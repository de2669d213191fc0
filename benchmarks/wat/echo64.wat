;; echo64: the guest of the warm_invoke_64B benchmark. A reactor (guest ABI
;; version 1, docs/abi.md) whose baton_handle reads the whole input into
;; memory at offset 0 (up to one page, 64 KiB) and writes it back as the
;; response body. It touches nothing else, so a benchmark of it measures
;; the host's per-call cost, not the guest's.
(module
  (import "baton" "input_len" (func $input_len (result i32)))
  (import "baton" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    (local $n i32)
    (local.set $n (call $input_len))
    (if (i32.gt_u (local.get $n) (i32.const 65536))
      (then (local.set $n (i32.const 65536))))
    (local.set $n (call $input_read (i32.const 0) (local.get $n)))
    (drop (call $output_write (i32.const 0) (local.get $n)))
    (i32.const 0)))
