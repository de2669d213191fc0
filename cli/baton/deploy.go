package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/urfave/cli/v2"
)

// nameRE is the function name syntax of the HTTP API; envKeyRE that of
// the keys of a spec's env.
var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// progressThreshold is the module size above which deploy says it is
// uploading even when stderr is not a terminal.
const progressThreshold = 1 << 20

func (e *env) deployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "deploy a wasm module as a new version of a function",
		ArgsUsage: "FILE.wasm",
		Description: "Uploads the module with its spec. The same module and spec as the newest\n" +
			"version change nothing. FILE may be - to read the module from stdin (then --name is required).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "apply a manifest (baton.yaml: functions, triggers, chains) instead; see docs/manifest.md"},
			&cli.BoolFlag{Name: "prune", Usage: "with -f: remove what this manifest deployed before but no longer declares"},
			&cli.StringFlag{Name: "name", Usage: "function name", DefaultText: "the file name without .wasm"},
			&cli.IntFlag{Name: "memory", Usage: "memory cap in MiB", DefaultText: "64"},
			&cli.StringFlag{Name: "timeout", Usage: "deadline of one invocation (Go duration)", DefaultText: "5s"},
			&cli.IntFlag{Name: "max-instances", Usage: "most instances of one version on one node", DefaultText: "8"},
			&cli.IntFlag{Name: "min-instances", Usage: "instances each node keeps warm with no traffic (0: scale to zero)", DefaultText: "0"},
			&cli.StringFlag{Name: "idle-timeout", Usage: "how long an instance may stay idle before it is closed (Go duration, at least 1s)", DefaultText: "5m"},
			&cli.IntFlag{Name: "max-queue", Usage: "calls allowed to wait for an instance; 0 for no queue", DefaultText: "64"},
			&cli.StringFlag{Name: "queue-timeout", Usage: "how long a call may wait for an instance", DefaultText: "10s"},
			&cli.StringFlag{Name: "max-input", Usage: "largest event data, in bytes (or 512KiB, 6MiB…)", DefaultText: "6MiB"},
			&cli.StringFlag{Name: "max-output", Usage: "largest response body, in bytes (or 512KiB, 6MiB…)", DefaultText: "6MiB"},
			&cli.StringSliceFlag{Name: "env", Usage: "environment variable of the guest, as KEY=VALUE (repeatable)"},
			&cli.StringSliceFlag{Name: "bucket", Usage: "object-store bucket the function may read and write (repeatable or comma-separated)"},
			&cli.StringFlag{Name: "auth", Usage: "none, or token: invocations need the admin token", DefaultText: "none"},
			&cli.IntFlag{Name: "max-retries", Usage: "retries of a failed async invocation (0 for none)", DefaultText: "2"},
			&cli.StringFlag{Name: "retry-backoff", Usage: "delay before the first retry, doubled for each later one (Go duration)", DefaultText: "1s"},
			&cli.StringFlag{Name: "on-success", Usage: "where the record of a succeeded async invocation goes: `subject:SUBJECT` or function:NAME"},
			&cli.StringFlag{Name: "on-failure", Usage: "where the record of a dead async invocation goes: `subject:SUBJECT` or function:NAME"},
		},
		Action: e.deploy,
	}
}

func (e *env) deploy(c *cli.Context) error {
	if c.String("file") != "" {
		return e.deployManifest(c)
	}
	switch {
	case c.NArg() == 0:
		return usagef(c, "missing the module file (FILE.wasm)")
	case c.NArg() > 1:
		return usagef(c, "deploy takes one module file, got %d arguments", c.NArg())
	}
	file := c.Args().First()
	spec, err := specFromFlags(c, file)
	if err != nil {
		return err
	}
	module, err := e.readModule(c, file)
	if err != nil {
		return err
	}
	cl, err := e.newClient(c)
	if err != nil {
		return err
	}
	size := int64(len(module))
	if e.stderrTTY || size > progressThreshold {
		fmt.Fprintf(e.stderr, "uploading %s…\n", formatBytes(size))
	}
	res, err := cl.Deploy(c.Context, spec, bytes.NewReader(module))
	if err != nil {
		return err
	}
	if jsonOutput(c) {
		return writeJSON(e.stdout, res)
	}
	if !res.Changed {
		fmt.Fprintf(e.stdout, "%s is unchanged at version %d\n", res.Name, res.Version)
		return nil
	}
	if res.Size > 0 {
		size = res.Size
	}
	fmt.Fprintf(e.stdout, "deployed %s version %d (%s, sha256 %s, %s)\n",
		res.Name, res.Version, res.Mode, shortHash(res.SHA256), formatBytes(size))
	return nil
}

// readModule reads the module file (or stdin for "-") and checks that it
// is WebAssembly.
func (e *env) readModule(c *cli.Context, file string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if file == "-" {
		b, err = io.ReadAll(e.stdin)
		file = "stdin"
	} else {
		b, err = os.ReadFile(file)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef(c, "file not found: %s", file)
	case err != nil:
		return nil, usagef(c, "reading %s: %v", file, errors.Unwrap(err))
	case len(b) < 4 || string(b[:4]) != "\x00asm":
		return nil, usagef(c, "%s is not a WebAssembly module (it does not start with \\0asm)", file)
	}
	return b, nil
}

// specFromFlags builds the spec from the deploy flags; flags not given are
// left out so that the server applies its defaults.
func specFromFlags(c *cli.Context, file string) (client.Spec, error) {
	spec := client.Spec{Name: c.String("name")}
	if spec.Name == "" {
		if file == "-" {
			return spec, usagef(c, "--name is required when the module comes from stdin")
		}
		base := strings.TrimSuffix(filepath.Base(file), ".wasm")
		spec.Name = strings.ReplaceAll(strings.ToLower(base), "_", "-")
		if !nameRE.MatchString(spec.Name) {
			return spec, usagef(c, "cannot make a function name out of %q; pass --name (lower-case letters, digits and -)", filepath.Base(file))
		}
	} else if !nameRE.MatchString(spec.Name) {
		return spec, usagef(c, "--name %q: a name is 1 to 63 lower-case letters, digits and -, starting with a letter or digit", spec.Name)
	}
	if c.IsSet("memory") {
		if spec.Memory = c.Int("memory"); spec.Memory < 1 {
			return spec, usagef(c, "--memory must be at least 1 (MiB), got %d", spec.Memory)
		}
	}
	if c.IsSet("max-instances") {
		if spec.MaxInstances = c.Int("max-instances"); spec.MaxInstances < 1 {
			return spec, usagef(c, "--max-instances must be at least 1, got %d", spec.MaxInstances)
		}
	}
	if err := scalingSpecFromFlags(c, &spec); err != nil {
		return spec, err
	}
	if c.IsSet("max-queue") {
		switch q := c.Int("max-queue"); {
		case q < -1:
			return spec, usagef(c, "--max-queue must be 0 or -1 (no queue) or more, got %d", q)
		case q == 0:
			spec.MaxQueue = -1 // the API's "no queue"; 0 there means the default
		default:
			spec.MaxQueue = q
		}
	}
	for flag, dst := range map[string]*string{"timeout": &spec.Timeout, "queue-timeout": &spec.QueueTimeout} {
		if !c.IsSet(flag) {
			continue
		}
		v := c.String(flag)
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return spec, usagef(c, "--%s %q is not a positive duration like 500ms, 5s or 2m", flag, v)
		}
		*dst = v
	}
	for flag, dst := range map[string]*int64{"max-input": &spec.MaxInputBytes, "max-output": &spec.MaxOutputBytes} {
		if !c.IsSet(flag) {
			continue
		}
		n, err := parseBytes(c.String(flag))
		if err != nil || n <= 0 {
			return spec, usagef(c, "--%s %q is not a positive size like 1048576, 512KiB or 6MiB", flag, c.String(flag))
		}
		*dst = n
	}
	for _, kv := range c.StringSlice("env") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return spec, usagef(c, "--env %q: want KEY=VALUE", kv)
		}
		if !envKeyRE.MatchString(k) {
			return spec, usagef(c, "--env %q: %q is not a variable name (letters, digits and _, not starting with a digit)", kv, k)
		}
		if spec.Env == nil {
			spec.Env = map[string]string{}
		}
		spec.Env[k] = v
	}
	spec.Buckets = splitList(c.StringSlice("bucket"))
	if err := asyncSpecFromFlags(c, &spec); err != nil {
		return spec, err
	}
	if c.IsSet("auth") {
		spec.Auth = c.String("auth")
		if spec.Auth != "none" && spec.Auth != "token" {
			return spec, usagef(c, "--auth must be none or token, not %q", spec.Auth)
		}
	}
	return spec, nil
}

// parseBytes parses a byte count: "1048576", "512KiB", "6MiB", "1GiB", or
// the decimal "500KB", "6MB", "1GB". K, M and G alone are binary.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	return int64(f * mult), nil
}
