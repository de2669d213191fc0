package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
			"baton.yaml (build: .). Deploy it with `baton deploy -f DIR/NAME/baton.yaml`.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "parent directory of the new function", Value: "."},
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
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			files := map[string]string{
				"main.go":      scaffoldMain,
				"main_test.go": scaffoldTest,
				"baton.yaml":   scaffoldManifest,
			}
			for f, text := range files {
				text = strings.ReplaceAll(text, "NAME", name)
				if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "created %s (main.go, main_test.go, baton.yaml)\n", dir)
			fmt.Fprintf(e.stdout, "deploy it: baton deploy -f %s\n", filepath.Join(dir, "baton.yaml"))
			return nil
		},
	}
}
