;; raise: fails every call with a Lambda-style JSON error message, the
;; conformance stand-in for the Lambda handler raise_exception.py. A chain
;; Task sees the error name "Exception" (docs/chains.md, "Task errors").
(module
  (import "baton" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"errorMessage\":\"Some exception was raised.\",\"errorType\":\"Exception\",\"requestId\":\"00000000-0000-0000-0000-000000000000\",\"stackTrace\":[\"  File \\\"/var/task/handler.py\\\", line 2, in handler\\n    raise Exception(\\\"Some exception was raised.\\\")\\n\"]}")
  (func (export "baton_handle") (result i32)
    (call $error_set (i32.const 0) (i32.const 244))
    (i32.const 1)))
