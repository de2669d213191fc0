package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/scheduler/asl"
	"github.com/baton-run/baton/scheduler/asl/conformance"
)

// conformanceStandIns maps the recorded Lambda handlers of the shared
// conformance cases to the wasm functions that stand in for them.
var conformanceStandIns = map[string]string{
	"id_function.py":     "identity",
	"raise_exception.py": "raise",
}

func (e *env) chainConformanceCommand() *cli.Command {
	return &cli.Command{
		Name:      "conformance",
		Usage:     "run ASL conformance cases against the engine with real wasm functions",
		ArgsUsage: "DIR",
		Description: "Starts an in-process node on a temporary data directory, deploys the stand-in\n" +
			"functions (identity, raise) from --modules and runs every case of DIR: with\n" +
			"--engine durable (the default) each case is deployed as a chain and run as an\n" +
			"execution of the node's durable executor, on a virtual clock (Wait states take\n" +
			"no time), and scored from the execution and its history; with --engine memory\n" +
			"it runs in the in-memory interpreter. Prints a per-feature table ending in\n" +
			"\"N passed, M failed, K skipped\". Exits 1 when a case fails.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "modules", Usage: "directory of the built stand-in modules (identity.wasm, raise.wasm)", Value: filepath.Join("functions", "build", "testdata")},
			&cli.StringFlag{Name: "engine", Usage: "durable (chain executions of a real node) or memory (the in-memory interpreter)", Value: "durable"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "chain conformance needs DIR")
			}
			dir := c.Args().First()
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return usagef(c, "%s is not a directory of conformance cases", dir)
			}
			engine := c.String("engine")
			if engine != "durable" && engine != "memory" {
				return usagef(c, "--engine: %q is not durable or memory", engine)
			}
			return e.runConformance(c.Context, dir, c.String("modules"), engine)
		},
	}
}

func (e *env) runConformance(ctx context.Context, dir, modules, engine string) error {
	data, err := os.MkdirTemp("", "baton-conformance-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	cases := &caseHandlers{byChain: map[string]map[string]string{}}
	var srv *server.Server
	srv, err = server.New(server.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		ChainClock: asl.NewInstantClock(time.Now()),
		ChainInvoke: func(ctx context.Context, call *asl.TaskCall, key string) (json.RawMessage, error) {
			// The execution id (CHAIN.NAME…) opens the key: it tells
			// which case's handlers the function names stand for.
			chainName, _, _ := strings.Cut(key, ".")
			c, err := standIn(call, cases.get(chainName))
			if err != nil {
				return nil, err
			}
			return srv.InvokeTask(ctx, c, key)
		}})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Close()
	cl, err := client.New("http://"+srv.HTTPAddr(), srv.Token())
	if err != nil {
		return err
	}
	for _, fn := range conformanceStandIns {
		f, err := os.Open(filepath.Join(modules, fn+".wasm"))
		if err != nil {
			return fmt.Errorf("stand-in function %s: %w (build it with `bash functions/build.sh fixtures`)", fn, err)
		}
		_, err = cl.Deploy(ctx, client.Spec{Name: fn}, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("deploying %s: %w", fn, err)
		}
	}
	var runner conformance.Runner
	if engine == "memory" {
		runner = conformance.Memory{Invoker: asl.TaskInvokerFunc(func(ctx context.Context, target string, input json.RawMessage) (json.RawMessage, error) {
			name, qual, ok := asl.ParseFunctionRef(target)
			if !ok {
				return nil, &asl.TaskError{Name: asl.ErrorTaskFailed, Cause: "unsupported resource " + target}
			}
			h, _ := conformance.HandlerFor(ctx, target)
			call, err := standIn(&asl.TaskCall{Resource: target, Target: target, Function: name, Qualifier: qual, Input: input},
				map[string]string{name: h})
			if err != nil {
				return nil, err
			}
			return srv.InvokeTask(ctx, call, "conformance")
		})}
	} else {
		runner = &durableRunner{cl: cl, cases: cases, detached: func(ctx context.Context, id string) (bool, error) {
			x, err := srv.ChainExecution(ctx, id)
			if err != nil {
				return false, err
			}
			return x.State != nil && x.State.Detached, nil
		}}
	}
	sum, err := conformance.RunWith(dir, runner, e.stdout)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d conformance case(s) failed", sum.Failed)
	}
	return nil
}

// standIn rewrites call to the stand-in function of the recorded handler
// that implements its function in the case (handlers: function name →
// handler file); a function the case does not define is left alone.
func standIn(call *asl.TaskCall, handlers map[string]string) (*asl.TaskCall, error) {
	h, ok := handlers[call.Function]
	if !ok || h == "" {
		return call, nil
	}
	fn, ok := conformanceStandIns[h]
	if !ok {
		return nil, &asl.TaskError{Name: "Lambda.Unknown", Cause: "no stand-in function for handler " + h}
	}
	c := *call
	c.Function, c.Qualifier = fn, ""
	return &c, nil
}

// caseHandlers remembers, per chain, the handlers of the case it runs.
type caseHandlers struct {
	mu      sync.Mutex
	byChain map[string]map[string]string
}

func (h *caseHandlers) set(chainName string, m map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.byChain[chainName] = m
}

func (h *caseHandlers) get(chainName string) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byChain[chainName]
}

// durableRunner runs each case as an execution of the node's durable
// chain executor, through the HTTP API: deploy the definition as a chain,
// start an execution with the case input and wait for it, then read the
// states entered from its history.
type durableRunner struct {
	cl *client.Client
	// detached reports whether an execution is a child of a DISTRIBUTED
	// Map, whose states Step Functions does not count as the parent's.
	detached func(ctx context.Context, id string) (bool, error)
	cases    *caseHandlers
	n        int
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// chainName derives a valid, unique chain name from the n-th case file.
func chainName(n int, file string) string {
	base := nonName.ReplaceAllString(strings.ToLower(strings.TrimSuffix(file, ".json")), "-")
	name := strings.TrimRight("c"+strconv.Itoa(n)+"-"+base, "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	return name
}

func (r *durableRunner) Run(ctx context.Context, c *conformance.Case) (*asl.Result, error) {
	r.n++
	name := chainName(r.n, c.Name)
	r.cases.set(name, c.Handlers())
	if _, err := r.cl.DeployChain(ctx, name, c.Definition); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	wait := 20 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d)-5*time.Second, time.Second)
	}
	x, err := r.cl.StartExecution(ctx, name, c.ExecutionInput(), client.StartOptions{Name: "conformance", Wait: true, WaitTimeout: wait})
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if x.Status == string(asl.StatusRunning) {
		return nil, fmt.Errorf("execution %s still running after %s (in state %q)", x.ID, wait, x.State)
	}
	events, err := r.cl.History(ctx, x.ID)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	out := &asl.Result{Status: asl.Status(x.Status), Output: x.Output, Error: x.Error, Cause: x.Cause}
	out.StatesEntered, err = statesEntered(ctx, x.ID, events, r.detached)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// statesEntered lists the states the execution root entered, in order,
// from its history: the history holds the events of each execution (root,
// Parallel branch, Map iteration) in order, but not interleaved as they
// happened, so each child's states are placed after the state that
// started it (a child id is PARENT.ENTERED-RETRY-INDEX, ENTERED the id of
// that state's entered event). Children of a DISTRIBUTED Map are left out.
func statesEntered(ctx context.Context, root string, events []client.HistoryEvent, detached func(context.Context, string) (bool, error)) ([]string, error) {
	byExec := map[string][]client.HistoryEvent{}
	type child struct {
		id             string
		entered, index int
	}
	kids := map[string][]child{}
	for _, ev := range events {
		if _, seen := byExec[ev.Execution]; !seen && ev.Execution != root {
			parent, key, _ := cutLast(ev.Execution, ".")
			parts := strings.Split(key, "-")
			entered, _ := strconv.Atoi(parts[0])
			index, _ := strconv.Atoi(parts[len(parts)-1])
			kids[parent] = append(kids[parent], child{id: ev.Execution, entered: entered, index: index})
		}
		byExec[ev.Execution] = append(byExec[ev.Execution], ev)
	}
	out := []string{}
	var walk func(id string) error
	walk = func(id string) error {
		skip := false
		if id != root {
			d, err := detached(ctx, id)
			if err != nil {
				return fmt.Errorf("reading execution %s: %w", id, err)
			}
			skip = d
		}
		cs := kids[id]
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].entered != cs[j].entered {
				return cs[i].entered < cs[j].entered
			}
			return cs[i].index < cs[j].index
		})
		next := 0
		for _, ev := range byExec[id] {
			if !skip && strings.HasSuffix(ev.Type, "StateEntered") {
				out = append(out, ev.Name)
			}
			for ; next < len(cs) && int64(cs[next].entered) <= ev.ID; next++ {
				if err := walk(cs[next].id); err != nil {
					return err
				}
			}
		}
		for ; next < len(cs); next++ {
			if err := walk(cs[next].id); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(root)
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
