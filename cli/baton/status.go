package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/urfave/cli/v2"
)

// scalingSpecFromFlags reads --min-instances and --idle-timeout of deploy.
func scalingSpecFromFlags(c *cli.Context, spec *client.Spec) error {
	if c.IsSet("min-instances") {
		spec.MinInstances = c.Int("min-instances")
		switch {
		case spec.MinInstances < 0:
			return usagef(c, "--min-instances must be 0 or more, got %d", spec.MinInstances)
		case spec.MaxInstances > 0 && spec.MinInstances > spec.MaxInstances:
			return usagef(c, "--min-instances %d is more than --max-instances %d", spec.MinInstances, spec.MaxInstances)
		}
	}
	if c.IsSet("idle-timeout") {
		v := c.String("idle-timeout")
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return usagef(c, "--idle-timeout %q is not a duration of at least 1s, like 30s, 5m or 1h", v)
		}
		spec.IdleTimeout = v
	}
	return nil
}

func (e *env) statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the instance pools of the node: warm, busy and idle instances, cold starts, scaling",
		Description: "One row per function version on the node. WARM instances exist (BUSY serve a call,\n" +
			"IDLE wait); QUEUED calls wait for one. COLD counts calls that waited for an instance to be\n" +
			"created, FROM-ZERO those that found none at all; SCALED-DOWN is when idle instances were\n" +
			"last closed. A version not loaded on the node shows - for its counts.",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "status takes no arguments, got %q", c.Args().First())
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			st, err := cl.Status(c.Context)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, st)
			}
			e.printStatus(st.Functions)
			return nil
		},
	}
}

// printStatus prints the status rows as an aligned table.
func (e *env) printStatus(rows []client.FunctionStatus) {
	if len(rows) == 0 {
		fmt.Fprintln(e.stdout, "no functions deployed; try: baton deploy FILE.wasm")
		return
	}
	now := e.now()
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "NODE\tFUNCTION\tVERSION\tWARM\tBUSY\tIDLE\tQUEUED\tCOLD\tFROM-ZERO\tMIN\tMAX\tIDLE-TIMEOUT\tSCALED-DOWN")
	for _, r := range rows {
		counts := []string{"-", "-", "-", "-", "-", "-"}
		last := "-"
		if r.Loaded {
			counts = []string{strconv.Itoa(r.Warm), strconv.Itoa(r.Busy), strconv.Itoa(r.Idle), strconv.Itoa(r.Queued),
				strconv.FormatUint(r.ColdStarts, 10), strconv.FormatUint(r.ScaleFromZero, 10)}
			if r.LastScaleDown != nil {
				last = formatAge(now, *r.LastScaleDown, e.loc)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", orDash(r.Node), r.Name, r.Version,
			counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], r.MinInstances, r.MaxInstances, orDash(r.IdleTimeout), last)
	}
	_ = tw.Flush()
}
