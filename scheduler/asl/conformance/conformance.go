// Package conformance runs baton's ASL interpreter against recorded Step
// Functions behaviour: a directory of case files, each a state machine, an
// input and the outcome AWS produced (see the shared asl-conformance
// README for the format). It scores each case, prints a per-feature table
// and ends with one line "N passed, M failed, K skipped".
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/baton-run/baton/scheduler/asl"
)

// Case is one conformance case file.
type Case struct {
	// Name is the file name without directory.
	Name string `json:"-"`
	// Definition is the state machine.
	Definition json.RawMessage `json:"definition"`
	// Input is the execution input.
	Input json.RawMessage `json:"input"`
	// Expected is what Step Functions produced.
	Expected struct {
		Status string          `json:"status"`
		Output json.RawMessage `json:"output"`
		Error  *string         `json:"error"`
		Cause  *string         `json:"cause"`
	} `json:"expected"`
	// ExpectedStatesEntered lists states in the order entered (optional).
	ExpectedStatesEntered []string `json:"expected_states_entered"`
	// QueryLanguage is JSONPath, JSONata or mixed.
	QueryLanguage string `json:"query_language"`
	// Features tag the case for the report.
	Features []string `json:"features"`
	// Placeholders are values the recorder replaced; they match loosely.
	Placeholders []string `json:"placeholders_in_expected"`
	// Flags are the recorder's notes about the case.
	Flags []string `json:"flags"`
	// LambdaFunctions maps function ARNs to the handler that implements
	// them (lambda/ cases).
	LambdaFunctions map[string]struct {
		HandlerFile string `json:"handler_file"`
	} `json:"lambda_functions"`
}

// Verdict is the result of one case.
type Verdict string

// Verdicts.
const (
	Passed  Verdict = "passed"
	Failed  Verdict = "failed"
	Skipped Verdict = "skipped"
)

// CaseResult is the score of one case.
type CaseResult struct {
	Name     string
	Features []string
	Verdict  Verdict
	// Reason explains a failure or skip.
	Reason string
	// CauseNote reports a cause text that differs only where AWS wording
	// is not deterministic (the case still passes).
	CauseNote string
}

// FeatureCount tallies one feature tag.
type FeatureCount struct {
	Feature                 string
	Passed, Failed, Skipped int
}

// Summary is the outcome of a run.
type Summary struct {
	Passed, Failed, Skipped int
	Features                []FeatureCount
	Cases                   []CaseResult
}

type ctxKey struct{}

// HandlerFor tells a TaskInvoker which recorded handler implements target
// ("fn:NAME…") in the case being run: the base name of the handler file
// ("id_function.py"), or ok=false for a function the case does not define.
func HandlerFor(ctx context.Context, target string) (handler string, ok bool) {
	m, _ := ctx.Value(ctxKey{}).(map[string]string)
	name, _, ok := asl.ParseFunctionRef(target)
	if !ok {
		return "", false
	}
	h, ok := m[name]
	return h, ok
}

// LoadDir reads every *.json case in dir, sorted by name.
func LoadDir(dir string) ([]*Case, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("loading cases: %w", err)
	}
	var cases []*Case
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("loading cases: %w", err)
		}
		c := &Case{Name: e.Name()}
		if err := json.Unmarshal(data, c); err != nil {
			return nil, fmt.Errorf("loading case %s: %w", e.Name(), err)
		}
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases, nil
}

// Runner runs one case on an engine and returns what it did: status,
// output or error and cause, and the states entered in order (History is
// not scored). A *SkipError skips the case; any other error fails it.
type Runner interface {
	Run(ctx context.Context, c *Case) (*asl.Result, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, c *Case) (*asl.Result, error)

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, c *Case) (*asl.Result, error) { return f(ctx, c) }

// SkipError tells the scorer a runner cannot run a case, and why.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Skip returns a *SkipError with reason.
func Skip(reason string) error { return &SkipError{Reason: reason} }

// Memory runs cases with the in-memory driver asl.Run, Invoker running
// Task states (nil: cases that call functions are skipped). Wait states
// and retry delays take no time (an asl.InstantClock).
type Memory struct {
	Invoker asl.TaskInvoker
}

// Run runs c with asl.Run.
func (r Memory) Run(ctx context.Context, c *Case) (*asl.Result, error) {
	if len(c.LambdaFunctions) > 0 && r.Invoker == nil {
		return nil, Skip("calls functions and no invoker was given")
	}
	m, err := asl.Parse(c.Definition)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	ctx = context.WithValue(ctx, ctxKey{}, c.Handlers())
	return asl.Run(ctx, m, c.ExecutionInput(), asl.RunOptions{
		Invoker: r.Invoker,
		Clock:   asl.NewInstantClock(time.Now()),
		Info: asl.ExecutionInfo{
			Name:             "conformance",
			StateMachineName: strings.TrimSuffix(c.Name, ".json"),
			RoleArn:          "arn:aws:iam::000000000000:role/baton",
		},
	})
}

// Handlers maps the function names of the case's Lambda ARNs to the base
// name of the handler file that implements them ("id_function.py").
func (c *Case) Handlers() map[string]string {
	handlers := map[string]string{}
	for arn, lf := range c.LambdaFunctions {
		if name, _, ok := asl.ParseFunctionRef(arn); ok {
			handlers[name] = filepath.Base(lf.HandlerFile)
		}
	}
	return handlers
}

// ExecutionInput is the execution input ({} when the case gives none).
func (c *Case) ExecutionInput() json.RawMessage {
	if len(c.Input) == 0 {
		return json.RawMessage("{}")
	}
	return c.Input
}

// Run loads the cases in dir, runs each in memory with invoker (nil:
// cases that call functions are skipped), writes the report to w and
// returns the summary. The error is for the runner itself (an unreadable
// directory).
func Run(dir string, invoker asl.TaskInvoker, w io.Writer) (Summary, error) {
	return RunWith(dir, Memory{Invoker: invoker}, w)
}

// RunWith is Run with any engine: it runs each case of dir with runner,
// one at a time, scores it, writes the report to w and returns the
// summary.
func RunWith(dir string, runner Runner, w io.Writer) (Summary, error) {
	cases, err := LoadDir(dir)
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	for _, c := range cases {
		r := RunCaseWith(context.Background(), c, runner)
		sum.Cases = append(sum.Cases, r)
	}
	sum.tally()
	if w != nil {
		if err := sum.Report(w); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

func (s *Summary) tally() {
	s.Passed, s.Failed, s.Skipped = 0, 0, 0
	by := map[string]*FeatureCount{}
	for _, r := range s.Cases {
		feats := r.Features
		if len(feats) == 0 {
			feats = []string{"(none)"}
		}
		for _, f := range feats {
			fc := by[f]
			if fc == nil {
				fc = &FeatureCount{Feature: f}
				by[f] = fc
			}
			switch r.Verdict {
			case Passed:
				fc.Passed++
			case Failed:
				fc.Failed++
			default:
				fc.Skipped++
			}
		}
		switch r.Verdict {
		case Passed:
			s.Passed++
		case Failed:
			s.Failed++
		default:
			s.Skipped++
		}
	}
	s.Features = s.Features[:0]
	for _, fc := range by {
		s.Features = append(s.Features, *fc)
	}
	sort.Slice(s.Features, func(i, j int) bool { return s.Features[i].Feature < s.Features[j].Feature })
}

// Report writes the per-feature table, the failures and the final line.
func (s *Summary) Report(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tPASSED\tFAILED\tSKIPPED")
	for _, f := range s.Features {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", f.Feature, f.Passed, f.Failed, f.Skipped)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, r := range s.Cases {
		switch {
		case r.Verdict == Failed:
			notes = append(notes, fmt.Sprintf("FAIL %s: %s", r.Name, r.Reason))
		case r.Verdict == Skipped:
			notes = append(notes, fmt.Sprintf("SKIP %s: %s", r.Name, r.Reason))
		case r.CauseNote != "":
			notes = append(notes, fmt.Sprintf("NOTE %s: %s", r.Name, r.CauseNote))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	_, err := fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", s.Passed, s.Failed, s.Skipped)
	return err
}

// caseTimeout bounds one case.
const caseTimeout = 30 * time.Second

// RunCase runs one case in memory with invoker and scores it.
func RunCase(ctx context.Context, c *Case, invoker asl.TaskInvoker) CaseResult {
	return RunCaseWith(ctx, c, Memory{Invoker: invoker})
}

// RunCaseWith runs one case with runner and scores it; cases no engine of
// baton can reproduce are skipped without running.
func RunCaseWith(ctx context.Context, c *Case, runner Runner) CaseResult {
	res := CaseResult{Name: c.Name, Features: c.Features}
	if reason := skipReason(c); reason != "" {
		res.Verdict, res.Reason = Skipped, reason
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	out, err := runner.Run(ctx, c)
	var skip *SkipError
	switch {
	case errors.As(err, &skip):
		res.Verdict, res.Reason = Skipped, skip.Reason
		return res
	case err != nil:
		res.Verdict, res.Reason = Failed, "run: "+err.Error()
		return res
	}
	return Score(c, out)
}

// skipReason says why a case is skipped whatever the engine ("": it runs).
func skipReason(c *Case) string {
	switch {
	case hasAny(c.Flags, "localstack_mock_config"):
		return "relies on LocalStack's mocked service responses"
	case hasAny(c.Features, "express"):
		return "Express workflows have a different context object; baton runs Standard-style executions"
	case c.Expected.Status == "TIMED_OUT" || c.Expected.Status == "ABORTED":
		return "expects " + c.Expected.Status
	}
	return ""
}

// Score compares what an engine did (out) with what the case expects.
func Score(c *Case, out *asl.Result) CaseResult {
	res := CaseResult{Name: c.Name, Features: c.Features}
	fail := func(format string, args ...any) CaseResult {
		res.Verdict = Failed
		res.Reason = fmt.Sprintf(format, args...)
		return res
	}
	if out == nil {
		return fail("run: no result")
	}
	if string(out.Status) != c.Expected.Status {
		detail := ""
		if out.Status == asl.StatusFailed {
			detail = fmt.Sprintf(" (%s: %s)", out.Error, truncate(out.Cause, 300))
		}
		return fail("status %s, want %s%s", out.Status, c.Expected.Status, detail)
	}
	ph := c.Placeholders
	if out.Status == asl.StatusSucceeded {
		want, err := decode(c.Expected.Output)
		if err != nil {
			return fail("expected output is not JSON: %v", err)
		}
		got, err := decode(out.Output)
		if err != nil {
			return fail("output is not JSON: %v", err)
		}
		shapeOnly := hasAny(c.Features, "States.MathRandom", "States.UUID", "$random", "$uuid", "$millis", "$now")
		if where := match(want, got, ph, shapeOnly, "$"); where != "" {
			return fail("output differs at %s: got %s, want %s", where, truncate(string(out.Output), 400), truncate(string(c.Expected.Output), 400))
		}
	} else {
		wantErr := ""
		if c.Expected.Error != nil {
			wantErr = *c.Expected.Error
		}
		if out.Error != wantErr {
			return fail("error %q, want %q (cause: %s)", out.Error, wantErr, truncate(out.Cause, 300))
		}
		if c.Expected.Cause != nil {
			want := *c.Expected.Cause
			if !causeMatches(want, out.Cause, nil) {
				if causeMatches(want, out.Cause, ph) {
					res.CauseNote = fmt.Sprintf("cause matches only loosely: got %q", truncate(out.Cause, 200))
				} else if len(ph) > 0 {
					res.CauseNote = fmt.Sprintf("cause differs (non-deterministic parts): got %q, want %q", truncate(out.Cause, 200), truncate(want, 200))
				} else {
					return fail("cause %q, want %q", truncate(out.Cause, 300), truncate(want, 300))
				}
			}
		}
	}
	if c.ExpectedStatesEntered != nil {
		if !statesMatch(c.ExpectedStatesEntered, out.StatesEntered) {
			return fail("states entered %v, want %v", out.StatesEntered, c.ExpectedStatesEntered)
		}
	}
	res.Verdict = Passed
	return res
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func hasAny(list []string, xs ...string) bool {
	for _, a := range list {
		for _, x := range xs {
			if a == x {
				return true
			}
		}
	}
	return false
}

func decode(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// transportKeys are fields of the Lambda integration's result that only
// AWS's HTTP transport produces; an engine without them still matches.
var transportKeys = map[string]bool{"SdkHttpMetadata": true, "SdkResponseMetadata": true}

// match compares expected and actual JSON; it returns "" when they match
// or the path of the first difference. Strings containing placeholders
// match loosely; shapeOnly compares types and keys but not scalar values.
func match(want, got any, ph []string, shapeOnly bool, at string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return at
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				if transportKeys[k] {
					continue
				}
				return at + "." + k + " (missing)"
			}
			if d := match(wv, gv, ph, shapeOnly, at+"."+k); d != "" {
				return d
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return at + "." + k + " (unexpected)"
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return at
		}
		for i := range w {
			if d := match(w[i], g[i], ph, shapeOnly, fmt.Sprintf("%s[%d]", at, i)); d != "" {
				return d
			}
		}
		return ""
	case string:
		if looseString(w, ph) != nil {
			if _, ok := got.(string); ok && looseString(w, ph).MatchString(got.(string)) {
				return ""
			}
			if isWholePlaceholder(w, ph) {
				return ""
			}
		}
		g, ok := got.(string)
		if !ok {
			return at
		}
		if shapeOnly || g == w {
			return ""
		}
		// Strings holding JSON documents (error causes) compare parsed.
		if wv, gv := jsonDoc(w), jsonDoc(g); wv != nil && gv != nil && match(wv, gv, ph, false, at) == "" {
			return ""
		}
		return at
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return at
		}
		if shapeOnly {
			return ""
		}
		wf, _ := w.Float64()
		gf, _ := g.Float64()
		if wf != gf {
			return at
		}
		return ""
	case nil:
		if got != nil {
			return at
		}
		return ""
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return at
		}
		return ""
	}
}

// jsonDoc parses s when it holds a JSON object or array.
func jsonDoc(s string) any {
	t := strings.TrimSpace(s)
	if t == "" || (t[0] != '{' && t[0] != '[') {
		return nil
	}
	v, err := decode(json.RawMessage(t))
	if err != nil {
		return nil
	}
	return v
}

func isWholePlaceholder(s string, ph []string) bool {
	for _, p := range ph {
		if s == p {
			return true
		}
	}
	return false
}

var uuidLike = regexp.MustCompile(`<uuid:\d+>`)

// looseString returns a regexp for s when it contains placeholders.
func looseString(s string, ph []string) *regexp.Regexp {
	var found []string
	for _, p := range ph {
		if p != "" && strings.Contains(s, p) {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	quoted := make([]string, len(found))
	for i, f := range found {
		quoted[i] = regexp.QuoteMeta(f)
	}
	alt := regexp.MustCompile(strings.Join(quoted, "|"))
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, loc := range alt.FindAllStringIndex(s, -1) {
		b.WriteString(regexp.QuoteMeta(s[last:loc[0]]))
		b.WriteString("(?s:.*)")
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(s[last:]))
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil
	}
	return re
}

// causeMatches compares cause texts: exactly, as JSON when both parse, or
// loosely around placeholders when ph is given.
func causeMatches(want, got string, ph []string) bool {
	if want == got {
		return true
	}
	wv, err1 := decode(json.RawMessage(want))
	gv, err2 := decode(json.RawMessage(got))
	if err1 == nil && err2 == nil && wv != nil && gv != nil {
		if _, ok := wv.(string); !ok {
			if match(wv, gv, ph, false, "$") == "" {
				return true
			}
		}
	}
	if ph != nil {
		if re := looseString(want, append(ph, uuidLike.FindAllString(want, -1)...)); re != nil {
			return re.MatchString(got)
		}
	}
	return false
}

// statesMatch compares entered states: exactly, or, when concurrent
// branches may interleave, as equal multisets with the same first state.
func statesMatch(want, got []string) bool {
	if len(want) != len(got) {
		return false
	}
	same := true
	for i := range want {
		if want[i] != got[i] {
			same = false
			break
		}
	}
	if same {
		return true
	}
	count := map[string]int{}
	for _, s := range want {
		count[s]++
	}
	for _, s := range got {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return len(want) == 0 || want[0] == got[0]
}
