;; noexport: a valid module exporting only its memory, neither baton_handle
;; nor _start; rejected at deploy.
(module
  (memory (export "memory") 1))
