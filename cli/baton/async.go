package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/urfave/cli/v2"
)

// invokeAsync queues the invocation and prints its id.
func (e *env) invokeAsync(c *cli.Context, cl *client.Client, name string, req client.InvokeRequest) error {
	acc, err := cl.InvokeAsync(c.Context, name, req, c.String("idempotency-key"))
	if err != nil {
		return err
	}
	if jsonOutput(c) {
		return writeJSON(e.stdout, acc)
	}
	fmt.Fprintln(e.stdout, acc.ID)
	return nil
}

func (e *env) invocationsCommand() *cli.Command {
	sub := []*cli.Command{
		e.command(&cli.Command{
			Name:      "get",
			Usage:     "show an async invocation: status, attempts, result or error",
			ArgsUsage: "ID",
			Action: func(c *cli.Context) error {
				id, err := oneArg(c, "invocation id")
				if err != nil {
					return err
				}
				cl, err := e.newClient(c)
				if err != nil {
					return err
				}
				inv, err := cl.Invocation(c.Context, id)
				if err != nil {
					return err
				}
				if jsonOutput(c) {
					return writeJSON(e.stdout, inv)
				}
				e.printInvocation(inv)
				return nil
			},
		}),
	}
	return &cli.Command{
		Name:        "invocations",
		Usage:       "inspect async invocations",
		ArgsUsage:   "get ID",
		Subcommands: sub,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "unknown invocations command %q: use get", c.Args().First())
			}
			return usagef(c, "missing the invocations command: get")
		},
	}
}

// oneArg returns the single argument of c, named what in errors.
func oneArg(c *cli.Context, what string) (string, error) {
	switch {
	case c.NArg() == 0:
		return "", usagef(c, "missing the %s", what)
	case c.NArg() > 1:
		return "", usagef(c, "%s takes one %s, got %d arguments", c.Command.Name, what, c.NArg())
	}
	return c.Args().First(), nil
}

func (e *env) printInvocation(inv *client.Invocation) {
	now := e.now()
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "id:\t%s\n", inv.ID)
	fmt.Fprintf(tw, "function:\t%s\n", inv.Function)
	fmt.Fprintf(tw, "status:\t%s\n", inv.Status)
	fmt.Fprintf(tw, "submitted:\t%s\n", formatAge(now, inv.Submitted, e.loc))
	if !inv.Finished.IsZero() {
		fmt.Fprintf(tw, "finished:\t%s\n", formatAge(now, inv.Finished, e.loc))
	}
	if !inv.NextAttempt.IsZero() {
		fmt.Fprintf(tw, "next attempt:\t%s\n", inv.NextAttempt.In(e.loc).Format(time.RFC3339))
	}
	if inv.IdempotencyKey != "" {
		fmt.Fprintf(tw, "idempotency key:\t%s\n", inv.IdempotencyKey)
	}
	if inv.Redrives > 0 {
		fmt.Fprintf(tw, "redrives:\t%d\n", inv.Redrives)
	}
	if inv.Error != nil && inv.Status != "succeeded" {
		fmt.Fprintf(tw, "error:\t%s: %s\n", inv.Error.Code, inv.Error.Message)
	}
	_ = tw.Flush()
	if len(inv.Attempts) > 0 {
		fmt.Fprintln(e.stdout)
		e.printAttempts(inv.Attempts)
	}
	if r := inv.Result; r != nil {
		fmt.Fprintf(e.stdout, "\nresult: %d", r.Status)
		if r.Truncated {
			fmt.Fprint(e.stdout, " (body truncated)")
		}
		fmt.Fprintln(e.stdout)
		body := string(r.Bytes())
		if r.BodyEncoding == "base64" {
			body = fmt.Sprintf("(%s of binary data; use -o json)", formatBytes(int64(len(body))))
		}
		fmt.Fprintln(e.stdout, strings.TrimRight(body, "\n"))
	}
}

func (e *env) printAttempts(as []client.Attempt) {
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "ATTEMPT\tNODE\tSTARTED\tTOOK\tERROR")
	for _, a := range as {
		took := "-"
		if !a.Ended.IsZero() {
			took = a.Ended.Sub(a.Started).Round(time.Millisecond).String()
		}
		errText := "-"
		if a.Code != "" {
			errText = a.Code + ": " + oneLine(a.Message)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", a.Attempt, shortNode(a.Node), a.Started.In(e.loc).Format("15:04:05.000"), took, errText)
	}
	_ = tw.Flush()
}

// shortNode abbreviates a node id as the server log does.
func shortNode(id string) string {
	if len(id) > 6 {
		return id[len(id)-6:]
	}
	return orDash(id)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 80 {
		s = s[:77] + "…"
	}
	return s
}

func (e *env) dlqCommand() *cli.Command {
	sub := []*cli.Command{
		e.command(&cli.Command{
			Name:      "ls",
			Aliases:   []string{"list"},
			Usage:     "list the dead-letter queue, of one function or of all",
			ArgsUsage: "[NAME]",
			Action: func(c *cli.Context) error {
				if c.NArg() > 1 {
					return usagef(c, "dlq ls takes at most one function name, got %d arguments", c.NArg())
				}
				name := c.Args().First()
				if name != "" && !nameRE.MatchString(name) {
					return usagef(c, "%q is not a function name", name)
				}
				cl, err := e.newClient(c)
				if err != nil {
					return err
				}
				dls, err := cl.DeadLetters(c.Context, name)
				if err != nil {
					return err
				}
				if jsonOutput(c) {
					return writeJSON(e.stdout, dls)
				}
				if len(dls) == 0 {
					fmt.Fprintln(e.stdout, "the dead-letter queue is empty")
					return nil
				}
				now := e.now()
				tw := newTable(e.stdout)
				fmt.Fprintln(tw, "ID\tFUNCTION\tATTEMPTS\tDIED\tLAST ERROR")
				for _, d := range dls {
					last := "-"
					if n := len(d.Attempts); n > 0 && d.Attempts[n-1].Code != "" {
						last = d.Attempts[n-1].Code + ": " + oneLine(d.Attempts[n-1].Message)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", d.ID, d.Function, len(d.Attempts), formatAge(now, d.Died, e.loc), last)
				}
				return tw.Flush()
			},
		}),
		e.command(&cli.Command{
			Name:      "redrive",
			Usage:     "queue dead invocations again, with a fresh budget of retries",
			ArgsUsage: "ID | --all NAME",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "all", Usage: "redrive every dead invocation of function `NAME`"},
			},
			Action: func(c *cli.Context) error {
				all := c.String("all")
				switch {
				case all != "" && c.NArg() > 0:
					return usagef(c, "give an invocation ID or --all NAME, not both")
				case all != "" && !nameRE.MatchString(all):
					return usagef(c, "--all %q is not a function name", all)
				case all == "" && c.NArg() != 1:
					return usagef(c, "dlq redrive takes one invocation ID (or --all NAME), got %d arguments", c.NArg())
				}
				cl, err := e.newClient(c)
				if err != nil {
					return err
				}
				if all != "" {
					n, err := cl.RedriveAll(c.Context, all)
					if err != nil {
						return err
					}
					if jsonOutput(c) {
						return writeJSON(e.stdout, map[string]any{"function": all, "redriven": n})
					}
					fmt.Fprintf(e.stdout, "redrove %d invocation(s) of %s\n", n, all)
					return nil
				}
				inv, err := cl.Redrive(c.Context, c.Args().First())
				if err != nil {
					return err
				}
				if jsonOutput(c) {
					return writeJSON(e.stdout, inv)
				}
				fmt.Fprintf(e.stdout, "redrove %s (%s); follow it with: baton invocations get %s\n", inv.ID, inv.Function, inv.ID)
				return nil
			},
		}),
	}
	return &cli.Command{
		Name:        "dlq",
		Usage:       "list and redrive async invocations that failed every attempt",
		ArgsUsage:   "ls [NAME] | redrive ID | redrive --all NAME",
		Subcommands: sub,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "unknown dlq command %q: use ls or redrive", c.Args().First())
			}
			return usagef(c, "missing the dlq command: ls or redrive")
		},
	}
}

// asyncSpecFromFlags sets the async fields of spec from the deploy flags.
func asyncSpecFromFlags(c *cli.Context, spec *client.Spec) error {
	if c.IsSet("max-retries") {
		n := c.Int("max-retries")
		if n < 0 || n > 100 {
			return usagef(c, "--max-retries must be 0 to 100, got %d", n)
		}
		spec.MaxRetries = &n
	}
	if c.IsSet("retry-backoff") {
		v := c.String("retry-backoff")
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return usagef(c, "--retry-backoff %q is not a positive duration like 100ms, 1s or 1m", v)
		}
		spec.RetryBackoff = v
	}
	for flag, dst := range map[string]**client.Destination{"on-success": &spec.OnSuccess, "on-failure": &spec.OnFailure} {
		if !c.IsSet(flag) {
			continue
		}
		v := c.String(flag)
		kind, target, _ := strings.Cut(v, ":")
		switch {
		case target == "":
			return usagef(c, "--%s %q: want subject:SUBJECT or function:NAME", flag, v)
		case kind == "subject":
			*dst = &client.Destination{Subject: target}
		case kind == "function":
			*dst = &client.Destination{Function: target}
		default:
			return usagef(c, "--%s %q: want subject:SUBJECT or function:NAME", flag, v)
		}
	}
	return nil
}
