package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/baton-run/baton/client"
)

func (e *env) triggerCommand() *cli.Command {
	return &cli.Command{
		Name:  "trigger",
		Usage: "bind event sources (http routes, NATS subjects, schedules) to functions",
		Subcommands: []*cli.Command{
			e.command(e.triggerAddCommand()),
			e.command(e.triggerLsCommand()),
			e.command(e.triggerGetCommand()),
			e.command(e.triggerRmCommand()),
		},
	}
}

func (e *env) triggerAddCommand() *cli.Command {
	return &cli.Command{
		Name:  "add",
		Usage: "add a trigger of KIND (http, nats, cron, stream, object); every node runs it",
		UsageText: "baton trigger add http --method POST --path '/orders/{id}' --function NAME\n" +
			"   baton trigger add nats --subject 'greet.*' --function NAME\n" +
			"   baton trigger add cron --schedule '@every 30s' [--timezone Europe/Paris] --function NAME\n" +
			"   baton trigger add stream --stream S [--filter SUBJ] [--concurrency N] [--batch N] [--max-deliver N] [--backoff 1s] [--ack-wait 30s] --function NAME\n" +
			"   baton trigger add object --bucket B [--events created,removed] [--prefix P] [--suffix .csv] [--mode nats|listen] --function NAME",
		ArgsUsage: "KIND",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "function", Aliases: []string{"f"}, Usage: "target: function `NAME[:QUALIFIER]` or chain:NAME"},
			&cli.StringFlag{Name: "id", Usage: "trigger id (default: KIND-random)"},
			&cli.StringFlag{Name: "method", Usage: "http: request method, or ANY", Value: ""},
			&cli.StringFlag{Name: "path", Usage: "http: path pattern, {name} for a parameter, {name...} for the rest"},
			&cli.StringFlag{Name: "subject", Usage: "nats: subject, wildcards * and > allowed"},
			&cli.StringFlag{Name: "schedule", Usage: "cron: cron expression (seconds optional), @hourly…, or @every 30s"},
			&cli.StringFlag{Name: "timezone", Usage: "cron: IANA time zone of the schedule (default UTC)"},
			&cli.StringFlag{Name: "missed", Usage: "cron: ticks missed while no node ran: last (fire the latest once) or skip"},
			&cli.StringFlag{Name: "stream", Usage: "stream: name of an existing JetStream stream"},
			&cli.StringFlag{Name: "filter", Usage: "stream: only the stream's messages on this subject (wildcards allowed)"},
			&cli.IntFlag{Name: "concurrency", Usage: "stream: invocations at once per node (default 4)"},
			&cli.IntFlag{Name: "batch", Usage: "stream: messages per pull (default 16)"},
			&cli.IntFlag{Name: "max-deliver", Usage: "stream: deliveries of a failing message before its dead letter (default 5)"},
			&cli.StringFlag{Name: "backoff", Usage: "stream: delay before the first redelivery, doubling each time (default 1s)"},
			&cli.StringFlag{Name: "ack-wait", Usage: "stream: how long a delivered message may go unacked before it is delivered again, to any node (1s to 12h, default 30s)"},
			&cli.StringFlag{Name: "bucket", Usage: "object: bucket of the node's object store (MinIO)"},
			&cli.StringSliceFlag{Name: "events", Usage: "object: created, removed (repeat or comma-separate; default created)"},
			&cli.StringFlag{Name: "prefix", Usage: "object: only keys starting with this"},
			&cli.StringFlag{Name: "suffix", Usage: "object: only keys ending with this (.csv)"},
			&cli.StringFlag{Name: "mode", Usage: "object: nats (durable, the default) or listen (at most once)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "trigger add needs KIND (http, nats, cron, stream or object)")
			}
			if c.String("function") == "" {
				return usagef(c, "trigger add needs --function NAME (or chain:NAME)")
			}
			spec := client.TriggerSpec{
				ID: c.String("id"), Kind: c.Args().First(), Function: c.String("function"),
				Method: c.String("method"), Path: c.String("path"), Subject: c.String("subject"),
				Schedule: c.String("schedule"), Timezone: c.String("timezone"), Missed: c.String("missed"),
				Stream: c.String("stream"), Filter: c.String("filter"), Concurrency: c.Int("concurrency"),
				Batch: c.Int("batch"), MaxDeliver: c.Int("max-deliver"), Backoff: c.String("backoff"), AckWait: c.String("ack-wait"),
				Bucket: c.String("bucket"), Events: splitList(c.StringSlice("events")), Prefix: c.String("prefix"),
				Suffix: c.String("suffix"), Mode: c.String("mode"),
			}
			if spec.Kind == "http" && spec.Method == "" {
				spec.Method = "ANY"
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			tr, err := cl.AddTrigger(c.Context, spec)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, tr)
			}
			fmt.Fprintf(e.stdout, "added trigger %s: %s %s → %s\n", tr.ID, tr.Kind, source(tr.TriggerSpec), tr.Function)
			return nil
		},
	}
}

// source describes where a trigger's events come from.
func source(s client.TriggerSpec) string {
	switch s.Kind {
	case "http":
		m := s.Method
		if m == "" {
			m = "ANY"
		}
		return m + " " + s.Path
	case "nats":
		return s.Subject
	case "stream":
		if s.Filter != "" {
			return s.Stream + " " + s.Filter
		}
		return s.Stream
	case "object":
		return s.Bucket + "/" + s.Prefix + "*" + s.Suffix
	case "cron":
		out := s.Schedule
		if s.Timezone != "" {
			out += " (" + s.Timezone + ")"
		}
		return out
	}
	return "-"
}

func (e *env) triggerLsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list the triggers",
		Action: func(c *cli.Context) error {
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			ts, err := cl.Triggers(c.Context)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, ts)
			}
			if len(ts) == 0 {
				fmt.Fprintln(e.stdout, "no triggers (add one with: baton trigger add nats --subject 'greet.*' --function hello)")
				return nil
			}
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "ID\tKIND\tSOURCE\tFUNCTION\tSTATE\tCREATED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, source(t.TriggerSpec), t.Function, state(t), formatAge(e.now(), t.Created, e.loc))
			}
			return tw.Flush()
		},
	}
}

// state is whether t runs on the node that answered.
func state(t client.Trigger) string {
	switch {
	case t.Running:
		return "running"
	case t.Error != "":
		return "failed: " + strings.SplitN(t.Error, "\n", 2)[0]
	}
	return "starting"
}

func (e *env) triggerGetCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "show one trigger",
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "trigger get needs ID")
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			t, err := cl.GetTrigger(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, t)
			}
			tw := newTable(e.stdout)
			fmt.Fprintf(tw, "id:\t%s\nkind:\t%s\nsource:\t%s\nfunction:\t%s\nstate:\t%s\ncreated:\t%s\n",
				t.ID, t.Kind, source(t.TriggerSpec), t.Function, state(*t), formatAge(e.now(), t.Created, e.loc))
			if t.Kind == "cron" && t.Missed != "" {
				fmt.Fprintf(tw, "missed:\t%s\n", t.Missed)
			}
			return tw.Flush()
		},
	}
}

func (e *env) triggerRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a trigger; every node stops it",
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "trigger rm needs ID")
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			if err := cl.DeleteTrigger(c.Context, c.Args().First()); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed trigger %s\n", c.Args().First())
			return nil
		},
	}
}

// splitList flattens repeated and comma-separated flag values ("a,b").
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
