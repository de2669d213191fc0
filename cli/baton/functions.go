package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/urfave/cli/v2"
)

func (e *env) lsCommand() *cli.Command {
	return &cli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list the deployed functions",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "ls takes no arguments, got %q", c.Args().First())
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			fns, err := cl.List(c.Context)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, fns)
			}
			if len(fns) == 0 {
				fmt.Fprintln(e.stdout, "no functions deployed; try: baton deploy FILE.wasm")
				return nil
			}
			now := e.now()
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "NAME\tVERSION\tMODE\tMEMORY\tTIMEOUT\tSIZE\tUPDATED")
			for _, fn := range fns {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", fn.Name, fn.Latest, orDash(fn.Mode),
					formatMemory(fn.Spec.Memory), orDash(fn.Spec.Timeout), formatBytes(fn.Size), formatAge(now, fn.Updated, e.loc))
			}
			return tw.Flush()
		},
	}
}

func (e *env) getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "show a function, its spec and its versions",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			switch {
			case c.NArg() == 0:
				return usagef(c, "missing the function name")
			case c.NArg() > 1:
				return usagef(c, "get takes one function name, got %d arguments", c.NArg())
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			fn, err := cl.Get(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, fn)
			}
			e.printFunction(fn)
			return nil
		},
	}
}

// printFunction prints the details of fn, then its versions table.
func (e *env) printFunction(fn *client.Function) {
	now := e.now()
	s := fn.Spec
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "name:\t%s\n", fn.Name)
	fmt.Fprintf(tw, "version:\t%d\n", fn.Latest)
	if len(fn.Aliases) > 0 {
		names := make([]string, 0, len(fn.Aliases))
		for a := range fn.Aliases {
			names = append(names, a)
		}
		sort.Strings(names)
		for i, a := range names {
			names[i] = fmt.Sprintf("%s=%d", a, fn.Aliases[a])
			if w := fn.Weights[a]; len(w) > 0 {
				names[i] += " (" + describeRouting(client.Alias{Name: a, Version: fn.Aliases[a], Weights: w}) + ")"
			}
		}
		fmt.Fprintf(tw, "aliases:\t%s\n", strings.Join(names, " "))
	}
	fmt.Fprintf(tw, "mode:\t%s\n", orDash(fn.Mode))
	fmt.Fprintf(tw, "sha256:\t%s\n", orDash(fn.SHA256))
	fmt.Fprintf(tw, "size:\t%s\n", formatBytes(fn.Size))
	fmt.Fprintf(tw, "memory:\t%s\n", formatMemory(s.Memory))
	fmt.Fprintf(tw, "timeout:\t%s\n", orDash(s.Timeout))
	queue := fmt.Sprintf("queue %s, queue timeout %s", intOrDash(s.MaxQueue), orDash(s.QueueTimeout))
	if s.MaxQueue < 0 {
		queue = "no queue"
	}
	fmt.Fprintf(tw, "instances:\tup to %s per node, %s\n", intOrDash(s.MaxInstances), queue)
	fmt.Fprintf(tw, "scaling:\tat least %d per node, idle timeout %s\n", s.MinInstances, orDash(s.IdleTimeout))
	fmt.Fprintf(tw, "max input:\t%s\n", bytesOrDash(s.MaxInputBytes))
	fmt.Fprintf(tw, "max output:\t%s\n", bytesOrDash(s.MaxOutputBytes))
	fmt.Fprintf(tw, "auth:\t%s\n", orDash(s.Auth))
	if len(s.Env) > 0 {
		keys := make([]string, 0, len(s.Env))
		for k := range s.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			label := ""
			if i == 0 {
				label = "env:"
			}
			fmt.Fprintf(tw, "%s\t%s=%s\n", label, k, s.Env[k])
		}
	}
	fmt.Fprintf(tw, "created:\t%s\n", formatTime(now, fn.Created, e.loc))
	fmt.Fprintf(tw, "updated:\t%s\n", formatTime(now, fn.Updated, e.loc))
	_ = tw.Flush()

	if len(fn.Versions) == 0 {
		return
	}
	fmt.Fprintln(e.stdout)
	tw = newTable(e.stdout)
	fmt.Fprintln(tw, "VERSION\tMODE\tSHA256\tSIZE\tMEMORY\tTIMEOUT\tCREATED")
	for _, v := range fn.Versions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Version, orDash(v.Mode), shortHash(v.SHA256),
			formatBytes(v.Size), formatMemory(v.Spec.Memory), orDash(v.Spec.Timeout), formatAge(now, v.Created, e.loc))
	}
	_ = tw.Flush()
}

func (e *env) rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"delete"},
		Usage:     "remove functions with all their versions",
		ArgsUsage: "NAME...",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef(c, "missing the function name")
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			var failed error
			for _, name := range c.Args().Slice() {
				if err := cl.Delete(c.Context, name); err != nil {
					if c.NArg() == 1 {
						return err
					}
					fmt.Fprintf(e.stderr, "error: %s: %s\n", name, e.describe(c.Context, err))
					failed = errors.New("some functions were not removed")
					continue
				}
				if jsonOutput(c) {
					if err := writeJSON(e.stdout, map[string]string{"deleted": name}); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(e.stdout, "removed %s\n", name)
				}
			}
			return failed
		},
	}
}

func formatMemory(mib int) string {
	if mib <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d MiB", mib)
}

func intOrDash(n int) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func bytesOrDash(n int64) string {
	if n <= 0 {
		return "-"
	}
	return formatBytes(n)
}

// formatTime renders t as RFC 3339 in loc, with its age.
func formatTime(now, t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(time.RFC3339) + " (" + formatAge(now, t, loc) + ")"
}
