package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/baton-run/baton/internal/manifest"
	"github.com/urfave/cli/v2"
)

// deployManifest is `baton deploy -f baton.yaml [--prune]`.
func (e *env) deployManifest(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef(c, "deploy -f takes no module file, got %q", c.Args().First())
	}
	m, err := manifest.Load(c.String("file"))
	if err != nil {
		var me *manifest.Error
		if errors.As(err, &me) {
			return &usageError{msg: me.Error()}
		}
		return usagef(c, "-f: %v", err)
	}
	cl, err := e.newClient(c)
	if err != nil {
		return err
	}
	opts := manifest.Options{Prune: c.Bool("prune")}
	if !jsonOutput(c) {
		opts.Report = func(r manifest.Result) { fmt.Fprintln(e.stdout, r.String()) }
	}
	res, err := manifest.Apply(c.Context, cl, m, opts)
	if jsonOutput(c) {
		if res == nil {
			res = []manifest.Result{}
		}
		if werr := writeJSON(e.stdout, map[string]any{"project": m.Name, "results": res}); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func (e *env) initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "scaffold a new Go function with its baton.yaml",
		ArgsUsage: "NAME",
		Description: "Writes DIR/NAME/main.go (an SDK handler), main_test.go (sdktest) and\n" +
			"baton.yaml (build: .). Deploy it with `baton deploy -f DIR/NAME/baton.yaml`.\n" +
			"Outside a Go module that already has the SDK it also writes go.mod, requiring\n" +
			"the SDK module (" + sdkModule + "); --sdk DIR points it at a\n" +
			"checkout of baton instead (a replace directive). Then run `go mod tidy`.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "parent directory of the new function", Value: "."},
			&cli.StringFlag{Name: "sdk", Usage: "use the baton checkout in `DIR` for the SDK (go.mod replace directive)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "init takes one function name")
			}
			name := c.Args().First()
			if !nameRE.MatchString(name) {
				return usagef(c, "%q is not a function name ([a-z0-9][a-z0-9-]{0,62})", name)
			}
			dir := filepath.Join(c.String("dir"), name)
			if _, err := os.Stat(dir); err == nil {
				return usagef(c, "%s exists", dir)
			}
			sdkDir := c.String("sdk")
			if sdkDir != "" {
				abs, err := filepath.Abs(sdkDir)
				if err != nil {
					return err
				}
				if mod, _ := moduleOf(filepath.Join(abs, "go.mod")); mod != sdkModule {
					return usagef(c, "--sdk %s: not a checkout of %s (no go.mod of that module)", sdkDir, sdkModule)
				}
				sdkDir = abs
			}
			files := map[string]string{
				"main.go":      scaffoldMain,
				"main_test.go": scaffoldTest,
				"baton.yaml":   scaffoldManifest,
			}
			gomod, err := scaffoldGoMod(dir, sdkDir)
			if errors.Is(err, errNeedSDK) {
				return usagef(c, "%v", err)
			}
			if err != nil {
				return err
			}
			if gomod != "" {
				files["go.mod"] = gomod
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for f, text := range files {
				text = strings.ReplaceAll(text, "NAME", name)
				if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
					return err
				}
			}
			if gomod != "" {
				fmt.Fprintf(e.stdout, "created %s (main.go, main_test.go, baton.yaml, go.mod)\n", dir)
				fmt.Fprintf(e.stdout, "fetch the SDK: (cd %s && go mod tidy)\n", dir)
			} else {
				fmt.Fprintf(e.stdout, "created %s (main.go, main_test.go, baton.yaml)\n", dir)
			}
			fmt.Fprintf(e.stdout, "deploy it: baton deploy -f %s\n", filepath.Join(dir, "baton.yaml"))
			return nil
		},
	}
}

// errNeedSDK: a development build of baton knows no SDK release to require.
var errNeedSDK = errors.New("this baton is a development build, with no SDK release to require: " +
	"pass --sdk DIR (a checkout of baton), or run init inside a module that has the SDK")

// sdkModule is the module of the guest SDK (functions/sdk).
const sdkModule = "github.com/baton-run/baton"

// scaffoldGoMod returns the go.mod of a new function in dir, or "" when
// dir is inside a Go module that has the SDK already (this repository,
// or a module that requires it). sdkDir, when set, is a checkout of the
// SDK's module to build against.
func scaffoldGoMod(dir, sdkDir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		mod, requires := moduleOf(filepath.Join(d, "go.mod"))
		if mod != "" {
			if (mod == sdkModule || requires) && sdkDir == "" {
				return "", nil
			}
			break // another module: the function gets its own
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	if parts := strings.SplitN(goVersion, ".", 3); len(parts) >= 2 {
		goVersion = parts[0] + "." + parts[1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n\n", filepath.Base(abs), goVersion)
	// A replaced module's version is a placeholder; otherwise the SDK
	// comes from the module proxy at the release of this baton.
	version := "v0.0.0-00010101000000-000000000000"
	if sdkDir == "" {
		v := buildVersion()
		if !strings.HasPrefix(v, "v") || strings.Contains(v, "+") {
			return "", errNeedSDK
		}
		version = v
	}
	fmt.Fprintf(&b, "require %s %s\n", sdkModule, version)
	if sdkDir != "" {
		fmt.Fprintf(&b, "\nreplace %s => %s\n", sdkModule, sdkDir)
	}
	return b.String(), nil
}

// moduleOf reads the module path of a go.mod file ("" when there is none)
// and whether it requires the SDK's module.
func moduleOf(path string) (module string, requiresSDK bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 2 && fields[0] == "module":
			module = strings.Trim(fields[1], `"`)
		case len(fields) >= 2 && (fields[0] == sdkModule || (fields[0] == "require" && fields[1] == sdkModule)):
			requiresSDK = true
		}
	}
	return module, requiresSDK
}
