//go:build wasip1

package sdk

import (
	"slices"
	"unsafe"
)

// The baton host imports (docs/abi.md, "Imports: module baton"). Only
// those used end up in the module; meta_get is not: meta_json gives
// everything in one call.

//go:wasmimport baton input_len
func hostInputLen() int32

//go:wasmimport baton input_read
func hostInputRead(ptr unsafe.Pointer, n int32) int32

//go:wasmimport baton meta_json
func hostMetaJSON(ptr unsafe.Pointer, n int32) int32

//go:wasmimport baton output_write
func hostOutputWrite(ptr unsafe.Pointer, n int32) int32

//go:wasmimport baton set_status
func hostSetStatus(code int32)

//go:wasmimport baton set_header
func hostSetHeader(keyPtr unsafe.Pointer, keyLen int32, valPtr unsafe.Pointer, valLen int32)

//go:wasmimport baton error_set
func hostErrorSet(ptr unsafe.Pointer, n int32)

//go:wasmimport baton log
func hostLog(level int32, msgPtr unsafe.Pointer, msgLen int32, fieldsPtr unsafe.Pointer, fieldsLen int32)

// Buffers kept between invocations of this instance, so a warm call
// allocates little: the input (handed to the handler as Event.Data), the
// metadata JSON, and the response.
var (
	inBuf   []byte
	metaBuf = make([]byte, 1024)
	resp    = guestWriter{header: make(Header)}
)

// keepMax is the largest input buffer kept for the next call; a bigger one
// is dropped so that one large event does not pin its memory.
const keepMax = 1 << 20

// outBufSize is the size of the response body buffer; larger writes go to
// the host directly.
const outBufSize = 32 << 10

// batonHandle is the reactor entry point: one call per invocation.
//
//lint:ignore U1000 called by the host, through go:wasmexport
//go:wasmexport baton_handle
func batonHandle() int32 {
	e := &Event{Data: readInput()}
	if err := parseMeta(readMeta(), e); err != nil {
		Warn("sdk: reading metadata", "error", err)
	}
	resp.reset()
	err := Serve(nil, &resp, e)
	if err == nil {
		resp.finish()
	}
	resp.release()
	if cap(inBuf) > keepMax {
		inBuf = nil
	}
	if err != nil {
		msg := err.Error()
		if msg == "" {
			msg = "error"
		}
		hostErrorSet(unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
		return 1
	}
	return 0
}

func readInput() []byte {
	n := int(hostInputLen())
	if n <= 0 {
		return inBuf[:0]
	}
	if cap(inBuf) < n {
		inBuf = make([]byte, n)
	}
	inBuf = inBuf[:n]
	return inBuf[:hostInputRead(unsafe.Pointer(unsafe.SliceData(inBuf)), int32(n))]
}

func readMeta() []byte {
	for {
		n := int(hostMetaJSON(unsafe.Pointer(unsafe.SliceData(metaBuf)), int32(len(metaBuf))))
		if n < 0 {
			return nil
		}
		if n <= len(metaBuf) {
			return metaBuf[:n]
		}
		metaBuf = make([]byte, n)
	}
}

// guestWriter is the ResponseWriter of a wasm invocation. Status and
// headers go to the host on the first WriteHeader or Write (or at the end
// of the call); the body is buffered and written in large pieces.
type guestWriter struct {
	header    Header
	committed bool
	buf       []byte
	keys      []string
}

var _ ResponseWriter = (*guestWriter)(nil)

func (w *guestWriter) reset() {
	clear(w.header)
	w.committed = false
	w.buf = w.buf[:0]
}

// release drops references to the handler's data once the call is over.
func (w *guestWriter) release() {
	clear(w.header)
	clear(w.keys)
	w.keys = w.keys[:0]
}

func (w *guestWriter) Header() Header { return w.header }

func (w *guestWriter) WriteHeader(status int) {
	if w.committed {
		return
	}
	w.committed = true
	code := int32(status)
	if int(code) != status {
		code = -1 // out of range either way; do not let it wrap into a valid code
	}
	hostSetStatus(code)
	w.keys = w.keys[:0]
	for k := range w.header {
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys)
	for _, k := range w.keys {
		for _, v := range w.header[k] {
			hostSetHeader(unsafe.Pointer(unsafe.StringData(k)), int32(len(k)),
				unsafe.Pointer(unsafe.StringData(v)), int32(len(v)))
		}
	}
}

func (w *guestWriter) Write(p []byte) (int, error) {
	if !w.committed {
		w.WriteHeader(200)
	}
	if len(w.buf)+len(p) > outBufSize {
		w.flush()
		if len(p) >= outBufSize {
			writeOut(p)
			return len(p), nil
		}
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, outBufSize)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// finish sends the status and headers if the handler never wrote, and the
// buffered body.
func (w *guestWriter) finish() {
	if !w.committed {
		w.WriteHeader(200)
	}
	w.flush()
}

func (w *guestWriter) flush() {
	if len(w.buf) > 0 {
		writeOut(w.buf)
		w.buf = w.buf[:0]
	}
}

func writeOut(p []byte) {
	hostOutputWrite(unsafe.Pointer(unsafe.SliceData(p)), int32(len(p)))
}

// emit sends one log line to the host.
func emit(level Level, msg string, fields []byte) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)),
		unsafe.Pointer(unsafe.SliceData(fields)), int32(len(fields)))
}
