package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/baton-run/baton/client"
)

func (e *env) chainCommand() *cli.Command {
	return &cli.Command{
		Name:  "chain",
		Usage: "deploy and run chains: durable state machines in the Amazon States Language",
		Subcommands: []*cli.Command{
			e.command(e.chainDeployCommand()),
			e.command(e.chainStartCommand()),
			e.command(e.chainLsCommand()),
			e.command(e.chainExecutionsCommand()),
			e.command(e.chainDescribeCommand()),
			e.command(e.chainHistoryCommand()),
			e.command(e.chainStopCommand()),
			e.command(e.chainRedriveCommand()),
			e.command(e.chainRmCommand()),
			e.command(e.chainConformanceCommand()),
		},
	}
}

func (e *env) chainDeployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "validate and deploy a chain definition (JSON or YAML)",
		ArgsUsage: "NAME FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "auth", Usage: "who may start it at POST /chains/NAME: none (anyone) or token (the admin token); default: as it was (none for a new chain)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef(c, "chain deploy needs NAME and FILE")
			}
			def, err := os.ReadFile(c.Args().Get(1))
			if errors.Is(err, fs.ErrNotExist) {
				return usagef(c, "file not found: %s", c.Args().Get(1))
			} else if err != nil {
				return err
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			if a := c.String("auth"); a != "" && a != "none" && a != "token" {
				return usagef(c, "--auth %q is neither none nor token", a)
			}
			ch, err := cl.DeployChainWith(c.Context, c.Args().First(), def, client.ChainOptions{Auth: c.String("auth")})
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, ch)
			}
			if ch.Changed {
				fmt.Fprintf(e.stdout, "deployed chain %s version %d\n", ch.Name, ch.Version)
			} else {
				fmt.Fprintf(e.stdout, "chain %s unchanged (version %d)\n", ch.Name, ch.Version)
			}
			return nil
		},
	}
}

func (e *env) chainStartCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start an execution; with --wait, wait for its result",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Usage: "input (JSON): `DATA`, @FILE, or - for stdin"},
			&cli.StringFlag{Name: "name", Usage: "execution name (makes the start idempotent)"},
			&cli.BoolFlag{Name: "wait", Aliases: []string{"w"}, Usage: "wait for the execution to end and print its output"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long --wait waits", Value: 60 * time.Second},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "chain start needs NAME")
			}
			var input []byte
			if c.IsSet("data") {
				b, err := e.readData(c, c.String("data"))
				if err != nil {
					return err
				}
				input = b
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			x, err := cl.StartExecution(c.Context, c.Args().First(), input, client.StartOptions{Name: c.String("name"), Wait: c.Bool("wait"), WaitTimeout: c.Duration("timeout")})
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, x)
			}
			if !c.Bool("wait") {
				fmt.Fprintln(e.stdout, x.ID)
				return nil
			}
			switch x.Status {
			case "SUCCEEDED":
				fmt.Fprintln(e.stdout, compactJSON(x.Output))
				return nil
			case "RUNNING":
				fmt.Fprintln(e.stdout, x.ID)
				return fmt.Errorf("execution %s is still running after %s (see: baton chain describe %s)", x.ID, c.Duration("timeout"), x.ID)
			}
			return fmt.Errorf("execution %s %s: %s: %s", x.ID, x.Status, x.Error, x.Cause)
		},
	}
}

// readData reads DATA, @FILE or - (stdin).
func (e *env) readData(c *cli.Context, data string) ([]byte, error) {
	switch {
	case data == "-":
		return io.ReadAll(e.stdin)
	case strings.HasPrefix(data, "@") && len(data) > 1:
		b, err := os.ReadFile(data[1:])
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usagef(c, "-d %s: file not found: %s", data, data[1:])
		}
		return b, err
	}
	return []byte(data), nil
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func (e *env) chainLsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list the deployed chains",
		Action: func(c *cli.Context) error {
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			cs, err := cl.Chains(c.Context)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, cs)
			}
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "NAME\tVERSION\tSHA256\tUPDATED")
			for _, ch := range cs {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", ch.Name, ch.Version, shortHash(ch.SHA256), formatAge(e.now(), ch.Updated, e.loc))
			}
			return tw.Flush()
		},
	}
}

func (e *env) chainRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "delete a chain (running executions fail at their next step)",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "chain rm needs NAME")
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			if err := cl.DeleteChain(c.Context, c.Args().First()); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted chain %s\n", c.Args().First())
			return nil
		},
	}
}

func (e *env) chainExecutionsCommand() *cli.Command {
	return &cli.Command{
		Name:      "executions",
		Usage:     "list the executions of a chain",
		ArgsUsage: "NAME",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "chain executions needs NAME")
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			xs, err := cl.Executions(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, xs)
			}
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "EXECUTION\tSTATUS\tSTATE\tSTARTED\tDURATION\tERROR")
			for _, x := range xs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Status, orDash(x.State), formatAge(e.now(), x.Started, e.loc), duration(x, e.now()), orDash(x.Error))
			}
			return tw.Flush()
		},
	}
}

func duration(x client.Execution, now time.Time) string {
	end := x.Stopped
	if end.IsZero() {
		end = now
	}
	return end.Sub(x.Started).Round(time.Millisecond).String()
}

func (e *env) chainDescribeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show an execution: status, current state, input, output or error",
		ArgsUsage: "EXECUTION",
		Action: func(c *cli.Context) error {
			return e.execAction(c, func(cl *client.Client, id string) (*client.Execution, error) {
				return cl.GetExecution(c.Context, id)
			})
		},
	}
}

func (e *env) chainStopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "abort a running execution",
		ArgsUsage: "EXECUTION",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "error", Usage: "error name to record"},
			&cli.StringFlag{Name: "cause", Usage: "cause to record"},
		},
		Action: func(c *cli.Context) error {
			return e.execAction(c, func(cl *client.Client, id string) (*client.Execution, error) {
				return cl.StopExecution(c.Context, id, c.String("error"), c.String("cause"))
			})
		},
	}
}

func (e *env) chainRedriveCommand() *cli.Command {
	return &cli.Command{
		Name:      "redrive",
		Usage:     "restart a failed execution from the state it failed in",
		ArgsUsage: "EXECUTION",
		Action: func(c *cli.Context) error {
			return e.execAction(c, func(cl *client.Client, id string) (*client.Execution, error) {
				return cl.RedriveExecution(c.Context, id)
			})
		},
	}
}

func (e *env) execAction(c *cli.Context, do func(*client.Client, string) (*client.Execution, error)) error {
	if c.NArg() != 1 {
		return usagef(c, "chain %s needs EXECUTION", c.Command.Name)
	}
	cl, err := e.newClient(c)
	if err != nil {
		return err
	}
	x, err := do(cl, c.Args().First())
	if err != nil {
		return err
	}
	if jsonOutput(c) {
		return writeJSON(e.stdout, x)
	}
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "execution:\t%s\n", x.ID)
	fmt.Fprintf(tw, "chain:\t%s (version %d)\n", x.Chain, x.Version)
	fmt.Fprintf(tw, "status:\t%s\n", x.Status)
	fmt.Fprintf(tw, "state:\t%s\n", orDash(x.State))
	fmt.Fprintf(tw, "transitions:\t%d\n", x.Transitions)
	fmt.Fprintf(tw, "started:\t%s\n", x.Started.In(e.loc).Format(time.RFC3339))
	fmt.Fprintf(tw, "duration:\t%s\n", duration(*x, e.now()))
	if x.Redrives > 0 {
		fmt.Fprintf(tw, "redrives:\t%d\n", x.Redrives)
	}
	fmt.Fprintf(tw, "input:\t%s\n", compactJSON(x.Input))
	if len(x.Output) > 0 {
		fmt.Fprintf(tw, "output:\t%s\n", compactJSON(x.Output))
	}
	if x.Error != "" || x.Cause != "" {
		fmt.Fprintf(tw, "error:\t%s\n", x.Error)
		fmt.Fprintf(tw, "cause:\t%s\n", x.Cause)
	}
	return tw.Flush()
}

func (e *env) chainHistoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "show the history of an execution (its branches included)",
		ArgsUsage: "EXECUTION",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "chain history needs EXECUTION")
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			id := c.Args().First()
			h, err := cl.History(c.Context, id)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, h)
			}
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "ID\tTIME\tBRANCH\tTYPE\tSTATE\tDETAIL")
			for _, ev := range h {
				branch := "-"
				if ev.Execution != id {
					branch = strings.TrimPrefix(ev.Execution, id+".")
				}
				detail := ""
				switch {
				case ev.Error != "":
					detail = ev.Error + ": " + truncate(ev.Cause, 80)
				case len(ev.Output) > 0:
					detail = truncate(compactJSON(ev.Output), 80)
				case len(ev.Input) > 0:
					detail = truncate(compactJSON(ev.Input), 80)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", ev.ID, ev.Time.In(e.loc).Format("15:04:05.000"), branch, ev.Type, orDash(ev.Name), detail)
			}
			return tw.Flush()
		},
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
