package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

func (e *env) nodesCommand() *cli.Command {
	return &cli.Command{
		Name:  "nodes",
		Usage: "list the live nodes of the cluster, their load and loaded functions",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "nodes takes no arguments, got %q", c.Args().First())
			}
			cl, err := e.newClient(c)
			if err != nil {
				return err
			}
			nodes, err := cl.Nodes(c.Context)
			if err != nil {
				return err
			}
			if jsonOutput(c) {
				return writeJSON(e.stdout, nodes)
			}
			now := e.now()
			tw := newTable(e.stdout)
			fmt.Fprintln(tw, "NODE\tHTTP\tVERSION\tUP\tLIVE\tBUSY\tQUEUED\tFUNCTIONS")
			for _, n := range nodes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", n.ID, orDash(n.HTTP), orDash(n.Version),
					formatAge(now, n.Started, e.loc), n.Live, n.Busy, n.Queued, orDash(strings.Join(n.Functions, ",")))
			}
			return tw.Flush()
		},
	}
}
