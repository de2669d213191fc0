package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/baton-run/baton/client"
	"github.com/urfave/cli/v2"
)

func (e *env) versionsCommand() *cli.Command {
	return &cli.Command{
		Name:      "versions",
		Usage:     "list the versions of a function and the aliases pointing at them",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			name, err := oneName(c)
			if err != nil {
				return err
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			vs, err := cl.Versions(c.Context, name)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, vs)
			}
			// An alias with weights keeps what they leave for its own version.
			rest := map[string]int{}
			for _, v := range vs {
				for a, p := range v.Weights {
					if _, ok := rest[a]; !ok {
						rest[a] = 100
					}
					rest[a] -= p
				}
			}
			now := e.now()
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "VERSION\tSHA256\tSIZE\tMODE\tCREATED\tALIASES")
			for _, v := range vs {
				var names []string
				for _, a := range v.Aliases {
					if p, ok := rest[a]; ok {
						a = fmt.Sprintf("%s %d%%", a, p)
					}
					names = append(names, a)
				}
				for _, a := range sortedKeys(v.Weights) {
					names = append(names, fmt.Sprintf("%s %d%%", a, v.Weights[a]))
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, shortHash(v.SHA256), formatBytes(v.Size),
					orDash(v.Mode), formatAge(now, v.Created, e.loc), orDash(strings.Join(names, ", ")))
			}
			return tw.Flush()
		},
	}
}

func (e *env) aliasCommand() *cli.Command {
	sub := []*cli.Command{
		e.command(&cli.Command{
			Name:      "set",
			Usage:     "point an alias at a version, optionally sending a share of its calls to other versions",
			ArgsUsage: "NAME ALIAS VERSION",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "weight", Usage: "send `VERSION=PERCENT` of the alias's calls to another version (repeatable)"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 3 {
					return usagef(c, "alias set takes NAME ALIAS VERSION, got %d arguments", c.NArg())
				}
				name, alias := c.Args().Get(0), c.Args().Get(1)
				version, err := parseVersion(c.Args().Get(2))
				if err != nil {
					return usagef(c, "VERSION: %v", err)
				}
				weights := map[int]int{}
				for _, w := range c.StringSlice("weight") {
					v, p, err := parseWeight(w)
					if err != nil {
						return usagef(c, "--weight %v", err)
					}
					if _, dup := weights[v]; dup {
						return usagef(c, "--weight: version %d is given twice", v)
					}
					weights[v] = p
				}
				cl, err := e.newClient(c)
				if err != nil {
					return err
				}
				a, err := cl.SetAlias(c.Context, name, alias, version, weights)
				if err != nil {
					return err
				}
				if jsonOutput(c) {
					return writeJSON(e.stdout, a)
				}
				fmt.Fprintf(e.stdout, "%s → %s\n", a.Name, describeRouting(*a))
				return nil
			},
		}),
		e.command(&cli.Command{
			Name:      "rm",
			Aliases:   []string{"delete"},
			Usage:     "remove an alias (removing live makes plain calls run the latest version)",
			ArgsUsage: "NAME ALIAS",
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return usagef(c, "alias rm takes NAME ALIAS, got %d arguments", c.NArg())
				}
				name, alias := c.Args().Get(0), c.Args().Get(1)
				cl, err := e.newClient(c)
				if err != nil {
					return err
				}
				if err := cl.DeleteAlias(c.Context, name, alias); err != nil {
					return err
				}
				if jsonOutput(c) {
					return writeJSON(e.stdout, map[string]string{"deleted": alias})
				}
				fmt.Fprintf(e.stdout, "removed alias %s of %s\n", alias, name)
				return nil
			},
		}),
		e.command(&cli.Command{
			Name:      "ls",
			Aliases:   []string{"list"},
			Usage:     "list the aliases of a function",
			ArgsUsage: "NAME",
			Action: func(c *cli.Context) error {
				name, err := oneName(c)
				if err != nil {
					return err
				}
				cl, err := e.newClient(c)
				if err != nil {
					return err
				}
				as, err := cl.Aliases(c.Context, name)
				if err != nil {
					return err
				}
				if jsonOutput(c) {
					return writeJSON(e.stdout, as)
				}
				tw := newTable(e.stdout)
				fmt.Fprintln(tw, "ALIAS\tVERSION\tROUTING")
				for _, a := range as {
					routing := "-"
					if len(a.Weights) > 0 {
						routing = describeRouting(a)
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\n", a.Name, a.Version, routing)
				}
				return tw.Flush()
			},
		}),
	}
	return &cli.Command{
		Name:        "alias",
		Usage:       "set, remove and list the aliases of a function (live, canary…)",
		ArgsUsage:   "set|rm|ls ...",
		Subcommands: sub,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "unknown alias command %q: use set, rm or ls", c.Args().First())
			}
			return usagef(c, "missing the alias command: set, rm or ls")
		},
	}
}

func (e *env) rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "point live at the version before the one it names (the latest when unset)",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			name, err := oneName(c)
			if err != nil {
				return err
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			rb, err := cl.Rollback(c.Context, name)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, rb)
			}
			fmt.Fprintf(e.stdout, "%s → version %d (was %d)\n", rb.Alias, rb.To, rb.From)
			return nil
		},
	}
}

// oneName is the single NAME argument of a command.
func oneName(c *cli.Context) (string, error) {
	switch {
	case c.NArg() == 0:
		return "", usagef(c, "missing the function name")
	case c.NArg() > 1:
		return "", usagef(c, "%s takes one function name, got %d arguments", c.Command.Name, c.NArg())
	}
	return c.Args().First(), nil
}

// parseVersion parses a version number: 1, 2, 3…
func parseVersion(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("%q is not a version number (1, 2, 3…)", s)
	}
	return n, nil
}

// parseWeight parses VERSION=PERCENT ("4=10", "4=10%").
func parseWeight(s string) (version, percent int, err error) {
	vs, ps, ok := strings.Cut(s, "=")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not VERSION=PERCENT", s)
	}
	if version, err = parseVersion(vs); err != nil {
		return 0, 0, err
	}
	ps = strings.TrimSuffix(ps, "%")
	percent, err = strconv.Atoi(ps)
	if err != nil || strconv.Itoa(percent) != ps {
		return 0, 0, fmt.Errorf("%q: %q is not a whole percent", s, ps)
	}
	return version, percent, nil
}

// describeRouting says where an alias sends its calls: "version 3", or
// "version 2 (90%), version 3 (10%)".
func describeRouting(a client.Alias) string {
	if len(a.Weights) == 0 {
		return fmt.Sprintf("version %d", a.Version)
	}
	rest := 100
	versions := make([]int, 0, len(a.Weights))
	for v, p := range a.Weights {
		rest -= p
		versions = append(versions, v)
	}
	slices.Sort(versions)
	parts := []string{fmt.Sprintf("version %d (%d%%)", a.Version, rest)}
	for _, v := range versions {
		parts = append(parts, fmt.Sprintf("version %d (%d%%)", v, a.Weights[v]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
