// Command benchmarks measures baton side by side with a baseline in the
// same run and prints one line per scenario on stdout:
//
//	scenario=NAME baseline=X baton=Y unit=U ratio=R target=T
//
// followed by a human summary on stderr. See README.md for the scenarios,
// their baselines and how to read the numbers.
//
//	go run ./benchmarks                  # everything, ~2 minutes
//	go run ./benchmarks -only 'warm|scale'
//	go run ./benchmarks -json            # JSON lines instead
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is what the flags set.
type config struct {
	duration   time.Duration // one HTTP load round
	rounds     int           // HTTP rounds per side
	clients    int           // HTTP concurrent clients
	instances  int           // idle_instance_memory: instances per side
	modulesDir string
	stderr     io.Writer
}

// scenario is a group of output lines measured together.
type scenario struct {
	name  string
	lines []string
	run   func(context.Context, *config) ([]result, error)
}

var scenarios = []scenario{
	{"warm_invoke", []string{"warm_invoke_64B", "warm_invoke_64B_added", "warm_invoke_allocs"}, runWarmInvoke},
	{"http_warm", []string{"http_warm_rps", "http_warm_p99"}, runHTTP},
	{"cold_start_disk_cache", []string{"cold_start_disk_cache"}, runColdStart},
	{"scale_from_zero", []string{"scale_from_zero"}, runScaleFromZero},
	{"scale_up_rate", []string{"scale_up_rate"}, runScaleUp},
	{"idle_instance_memory", []string{"idle_instance_memory"}, runIdleMemory},
	{"async_throughput", []string{"async_throughput_1node", "async_throughput_2nodes"}, runAsync},
	{"chain", []string{"chain_step", "chain_transitions"}, runChain},
	{"nats_reqreply", []string{"nats_reqreply_p50", "nats_reqreply_throughput"}, runNATSReqReply},
	{"stream_throughput", []string{"stream_throughput"}, runStreamThroughput},
	{"object_event", []string{"object_event_p50_added"}, runObjectEvent},
}

func (s scenario) matches(re *regexp.Regexp) bool {
	if re.MatchString(s.name) {
		return true
	}
	for _, l := range s.lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchmarks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{stderr: stderr}
	fs.DurationVar(&c.duration, "duration", 3*time.Second, "length of one HTTP load round")
	fs.IntVar(&c.rounds, "rounds", 6, "HTTP load rounds per side (the median is reported; even keeps ABBA balanced)")
	fs.IntVar(&c.clients, "clients", 32, "concurrent keep-alive clients of the HTTP load generator")
	fs.IntVar(&c.instances, "instances", 50, "idle instances per side in idle_instance_memory")
	fs.StringVar(&c.modulesDir, "modules", "", "directory of the built guests (default <repo>/functions/build)")
	only := fs.String("only", "", "run only the scenarios whose name or line name matches this regexp")
	asJSON := fs.Bool("json", false, "print one JSON object per line instead of key=value lines")
	strict := fs.Bool("strict", false, "exit 1 when a result misses its target")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "benchmarks: unexpected arguments %q\n", fs.Args())
		return 2
	}
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintf(stderr, "benchmarks: -only: %v\n", err)
		return 2
	}
	if c.duration <= 0 || c.rounds < 1 || c.clients < 1 || c.instances < 1 {
		fmt.Fprintln(stderr, "benchmarks: -duration, -rounds, -clients and -instances must be positive")
		return 2
	}
	if c.modulesDir == "" {
		root, err := repoRoot()
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: %v (or pass -modules)\n", err)
			return 2
		}
		c.modulesDir = filepath.Join(root, "functions", "build")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "benchmarks: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	var all []result
	failed := false
	for _, s := range scenarios {
		if !s.matches(re) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "running %s…\n", s.name)
		start := time.Now()
		rs, err := s.run(ctx, c)
		if err != nil {
			fmt.Fprintf(stderr, "%s: FAILED: %v\n", s.name, err)
			failed = true
			continue
		}
		fmt.Fprintf(stderr, "%s: done in %s\n", s.name, time.Since(start).Round(100*time.Millisecond))
		for _, r := range rs {
			if *asJSON {
				fmt.Fprintln(stdout, r.jsonLine())
			} else {
				fmt.Fprintln(stdout, r.line())
			}
		}
		all = append(all, rs...)
	}
	summary(stderr, all)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "interrupted")
		return 1
	}
	if failed {
		return 1
	}
	if *strict {
		for _, r := range all {
			if !r.Pass {
				return 1
			}
		}
	}
	return 0
}

// summary prints the results as an aligned table with their notes.
func summary(w io.Writer, rs []result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tBASELINE\tBATON\tUNIT\tCOMPARED\tTARGET\tRESULT")
	for _, r := range rs {
		verdict, compared := "ok", "ratio "+formatNum(r.Ratio)
		if !r.Pass {
			verdict = "MISSED"
		}
		if r.Delta {
			compared = "added " + formatNum(r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, formatNum(r.Baseline), formatNum(r.Baton), r.Unit, compared, r.Target, verdict)
	}
	_ = tw.Flush()
	for _, r := range rs {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Scenario, r.Note)
		}
	}
}

// repoRoot is the nearest directory above the working directory holding
// go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod) above the working directory")
		}
		dir = parent
	}
}
