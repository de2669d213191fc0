// Command baton deploys, invokes and inspects WebAssembly functions on a
// baton node, and runs one (`baton up`).
//
// See docs/cli.md for the reference with examples. Exit codes: 0 success,
// 1 the request failed, 2 the command line was wrong.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// Exit codes of run.
const (
	exitOK      = 0
	exitFailed  = 1 // the request or the server failed
	exitUsage   = 2 // the command line was wrong
	defaultAddr = "http://127.0.0.1:8080"
)

func init() {
	// urfave/cli appends one package-level help flag to every command and
	// mutates it while parsing, which races when run is called from
	// parallel tests. Every command gets its own help flag instead.
	cli.HelpFlag = nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the baton command line args (args[0] is the program name) and
// returns the exit code. It never calls os.Exit, so tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		now:       time.Now,
		loc:       time.Local,
		stderrTTY: isTerminal(stderr),
	}
	return e.run(ctx, args)
}

// run runs the command line with e.
func (e *env) run(ctx context.Context, args []string) int {
	app := e.newApp()
	err := app.RunContext(ctx, reorderArgs(app, args))
	return e.exitCode(ctx, err)
}

// env is what one run of the command line works with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	loc            *time.Location // of the times printed
	stderrTTY      bool

	// Set once a command made its client, for error messages.
	server    string
	tokenHint string
}

func (e *env) newApp() *cli.App {
	app := &cli.App{
		Name:                      "baton",
		HelpName:                  "baton",
		Usage:                     "run WebAssembly functions: deploy, invoke, inspect",
		UsageText:                 "baton [global options] command [command options] [arguments...]",
		HideVersion:               true,
		DisableSliceFlagSeparator: true,
		Reader:                    e.stdin,
		Writer:                    e.stdout,
		ErrWriter:                 e.stderr,
		ExitErrHandler:            func(*cli.Context, error) {}, // run maps errors to exit codes
		OnUsageError:              e.onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "URL of the baton node", Value: defaultAddr, EnvVars: []string{"BATON_SERVER"}},
			&cli.StringFlag{Name: "token", Usage: "admin token (default: read from <data-dir>/token)", EnvVars: []string{"BATON_TOKEN"}},
			&cli.StringFlag{Name: "data-dir", Usage: "data directory of the node", DefaultText: "$HOME/.baton", EnvVars: []string{"BATON_DATA_DIR"}},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: table or json", Value: "table"},
			helpFlag(),
		},
		Before: func(c *cli.Context) error {
			if o := c.String("output"); o != "table" && o != "json" {
				return usagef(c, "--output must be table or json, not %q", o)
			}
			return nil
		},
		Action: func(c *cli.Context) error {
			if c.Bool("help") {
				return cli.ShowAppHelp(c)
			}
			if c.NArg() > 0 {
				return usagef(c, "unknown command %q", c.Args().First())
			}
			cli.HelpPrinter(e.stderr, cli.AppHelpTemplate, c.App)
			return &usageError{} // already explained by the help text
		},
	}
	app.Commands = []*cli.Command{
		e.command(e.upCommand()),
		e.command(e.deployCommand()),
		e.command(e.initCommand()),
		e.command(e.invokeCommand()),
		e.command(e.lsCommand()),
		e.command(e.getCommand()),
		e.command(e.rmCommand()),
		e.command(e.statusCommand()),
		e.command(e.versionsCommand()),
		e.command(e.aliasCommand()),
		e.command(e.rollbackCommand()),
		e.command(e.nodesCommand()),
		e.command(e.invocationsCommand()),
		e.command(e.dlqCommand()),
		e.chainCommand(),
		e.triggerCommand(),
		e.command(e.versionCommand()),
		e.command(&cli.Command{
			Name:      "help",
			Usage:     "show the help of baton or of one command",
			ArgsUsage: "[COMMAND]",
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return cli.ShowAppHelp(c)
				}
				cmd := c.App.Command(c.Args().First())
				if cmd == nil {
					return &usageError{msg: fmt.Sprintf("unknown command %q", c.Args().First()), help: "baton"}
				}
				cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, cmd)
				return nil
			},
		}),
	}
	return app
}

// helpFlag is a fresh -h/--help flag (see init).
func helpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
}

// command completes a command definition: its own help flag, usage errors
// reported by run, and no "help" subcommand.
func (e *env) command(cmd *cli.Command) *cli.Command {
	cmd.Flags = append(cmd.Flags, helpFlag())
	cmd.HideHelpCommand = true
	cmd.OnUsageError = e.onUsageError
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		if c.Bool("help") {
			cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
			return nil
		}
		return action(c)
	}
	return cmd
}

// usageError is a wrong command line: exit code 2.
type usageError struct {
	msg  string // "" when the help text already says it all
	help string // the command whose --help explains, e.g. "baton deploy"
}

func (e *usageError) Error() string { return e.msg }

// usagef returns a usage error of the command running in c.
func usagef(c *cli.Context, format string, args ...any) error {
	help := "baton"
	if c != nil && c.Command != nil && c.Command.HelpName != "" {
		help = c.Command.HelpName
	}
	return &usageError{msg: fmt.Sprintf(format, args...), help: help}
}

func (e *env) onUsageError(c *cli.Context, err error, _ bool) error {
	return usagef(c, "%v", err)
}

// exitCode reports err on stderr and returns the exit code for it.
func (e *env) exitCode(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.msg != "" {
			fmt.Fprintf(e.stderr, "error: %s\n", ue.msg)
			fmt.Fprintf(e.stderr, "run '%s --help' for usage\n", ue.help)
		}
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "error: %s\n", e.describe(ctx, err))
	return exitFailed
}
