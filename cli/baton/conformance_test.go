package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/internal/testutil"
)

// conformanceCases are written for this test (not copied from the shared
// suite): a day-long Wait (the virtual clock), a Parallel and a
// DISTRIBUTED Map (states entered across child executions), a Lambda ARN
// task run by the identity stand-in, and one case whose expectation is
// wrong.
var conformanceCases = map[string]string{
	"wait.json": `{"definition":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":86400,"Next":"P"},"P":{"Type":"Pass","Result":"done","End":true}}},
		"input":{},"expected":{"status":"SUCCEEDED","output":"done"},"expected_states_entered":["W","P"],"features":["state:Wait"]}`,
	"parallel.json": `{"definition":{"StartAt":"Par","States":{"Par":{"Type":"Parallel","Next":"After","Branches":[
		{"StartAt":"A","States":{"A":{"Type":"Pass","Result":1,"End":true}}},
		{"StartAt":"B","States":{"B":{"Type":"Pass","Result":2,"End":true}}}]},"After":{"Type":"Pass","End":true}}},
		"input":{},"expected":{"status":"SUCCEEDED","output":[1,2]},"expected_states_entered":["Par","A","B","After"],"features":["state:Parallel"]}`,
	"distributed.json": `{"definition":{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},
		"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}},
		"input":[1,2],"expected":{"status":"SUCCEEDED","output":[1,2]},"expected_states_entered":["M"],"features":["state:Map"]}`,
	"task.json": `{"definition":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:111111111111:function:Echo_Fn","End":true}}},
		"input":{"x":1},"expected":{"status":"SUCCEEDED","output":{"x":1}},"expected_states_entered":["T"],"features":["state:Task"],
		"lambda_functions":{"arn:aws:lambda:us-east-1:111111111111:function:Echo_Fn":{"handler_file":"handlers/id_function.py"}}}`,
	"wrong.json": `{"definition":{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"End":true}}},
		"input":{},"expected":{"status":"SUCCEEDED","output":2},"features":["state:Pass"]}`,
}

func writeConformanceCases(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(conformanceCases[n]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestChainConformanceDurable(t *testing.T) {
	modules := filepath.Join(testutil.BuildDir(t), "testdata")
	dir := writeConformanceCases(t, "wait.json", "parallel.json", "distributed.json", "task.json")
	out, _, code := runCLI(t, "chain", "conformance", "--modules", modules, dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"state:Wait", "state:Parallel", "state:Map", "state:Task", "4 passed, 0 failed, 0 skipped\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestChainConformanceReportsFailures(t *testing.T) {
	modules := filepath.Join(testutil.BuildDir(t), "testdata")
	dir := writeConformanceCases(t, "wrong.json", "wait.json")
	for _, engine := range []string{"durable", "memory"} {
		out, _, code := runCLI(t, "chain", "conformance", "--engine", engine, "--modules", modules, dir)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1", engine, code)
		}
		if !strings.Contains(out, "FAIL wrong.json: output differs at $") || !strings.HasSuffix(out, "1 passed, 1 failed, 0 skipped\n") {
			t.Fatalf("%s: output:\n%s", engine, out)
		}
	}
}

func TestChainConformanceUsage(t *testing.T) {
	if _, _, code := runCLI(t, "chain", "conformance", "--engine", "quantum", t.TempDir()); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}
