;; membomb: grows its memory 16 pages (1 MiB) at a time until memory.grow
;; fails (returns -1) at the cap, then traps (memory_limit).
(module
  (memory (export "memory") 1) ;; no maximum: only the host caps it
  (func (export "baton_handle") (result i32)
    (block $capped
      (loop $grow
        (br_if $capped (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $grow)))
    unreachable))
