;; outbomb: writes its whole first 64 KiB page as output, forever
;; (output_too_large).
(module
  (import "baton" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "baton_handle") (result i32)
    (loop $forever
      (drop (call $output_write (i32.const 0) (i32.const 65536)))
      (br $forever))
    (i32.const 0)))
