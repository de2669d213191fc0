package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/scheduler/asl"
)

// sharedDir is where the shared cases sit: beside the repository checkout.
func sharedDir(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "..", "shared", "asl-conformance", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no shared conformance cases at %s", dir)
	}
	return dir
}

// emulatedInvoker stands in for the recorded Lambda handlers until real
// wasm functions implement them: identity, raise an exception, wait, large
// output. It lives only in this test.
type emulatedInvoker struct{}

func (emulatedInvoker) Invoke(ctx context.Context, target string, input json.RawMessage) (json.RawMessage, error) {
	handler, ok := HandlerFor(ctx, target)
	if !ok {
		name, _, _ := asl.ParseFunctionRef(target)
		return nil, &asl.TaskError{Name: "Lambda.ResourceNotFoundException", Cause: fmt.Sprintf("Function not found: arn:aws:lambda:us-east-1:000000000000:function:%s:$LATEST (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: 00000000-0000-0000-0000-000000000000; Proxy: null)", name)}
	}
	switch handler {
	case "id_function.py":
		return input, nil
	case "raise_exception.py":
		cause := `{"errorMessage":"Some exception was raised.","errorType":"Exception","requestId":"00000000-0000-0000-0000-000000000000","stackTrace":["  File \"/var/task/handler.py\", line 2, in handler\n    raise Exception(\"Some exception was raised.\")\n"]}`
		return nil, &asl.TaskError{Name: "Exception", Cause: cause}
	case "large_output.py":
		return json.RawMessage(`"` + strings.Repeat("x", 300*1024) + `"`), nil
	}
	return nil, &asl.TaskError{Name: "Lambda.Unknown", Cause: "no emulation for handler " + handler}
}

func TestConformancePure(t *testing.T) {
	dir := sharedDir(t, "pure")
	var out bytes.Buffer
	sum, err := Run(dir, nil, &out)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Log("\n" + out.String())
	if sum.Passed+sum.Failed+sum.Skipped == 0 {
		t.Fatalf("no cases ran")
	}
}

func TestConformanceLambda(t *testing.T) {
	dir := sharedDir(t, "lambda")
	var out bytes.Buffer
	sum, err := Run(dir, emulatedInvoker{}, &out)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Log("\n" + out.String())
	if sum.Passed+sum.Failed+sum.Skipped == 0 {
		t.Fatalf("no cases ran")
	}
}

func TestReportEndsWithSummaryLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"definition":{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"End":true}}},"input":{},"expected":{"status":"SUCCEEDED","output":1},"features":["state:Pass"]}`)
	write("b.json", `{"definition":{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"End":true}}},"input":{},"expected":{"status":"SUCCEEDED","output":2},"features":["state:Pass"]}`)
	write("c.json", `{"definition":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:x","End":true}}},"input":{},"expected":{"status":"SUCCEEDED","output":{}},"features":["state:Task"],"lambda_functions":{"arn:aws:lambda:us-east-1:1:function:x":{"handler_file":"id_function.py"}}}`)
	write("d.json", `{"definition":{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","Cause":"c <uuid:1>"}}},"input":{},"expected":{"status":"FAILED","error":"E","cause":"c <uuid:1>"},"placeholders_in_expected":["<uuid:1>"],"features":["state:Fail"]}`)
	var out bytes.Buffer
	sum, err := Run(dir, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Passed != 2 || sum.Failed != 1 || sum.Skipped != 1 {
		t.Fatalf("summary = %+v\n%s", sum, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != "2 passed, 1 failed, 1 skipped" {
		t.Fatalf("last line = %q", last)
	}
	if !strings.Contains(out.String(), "state:Pass") {
		t.Fatalf("no feature table:\n%s", out.String())
	}
}
