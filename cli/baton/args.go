package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs lets flags follow positional arguments, as in
// `baton deploy hello.wasm --name hello` and `baton ls -o json`, which
// urfave/cli v2 (Go's flag package) does not allow: parsing stops at the
// first argument that is not a flag.
//
// It returns the program name, the global flags (wherever they were
// given), the command (with its subcommand, as in `baton alias set`), the
// command's flags, then "--" and the positional
// arguments. A value-taking flag keeps the argument after it ("-d -"), and
// everything after a "--" stays positional. Unknown flags are kept where
// the parser will report them. Without a known command, args come back
// unchanged; a value-taking flag at the very end comes back alone.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	global := takesValue(app.Flags)
	out := []string{args[0]}
	i := 1
	for i < len(args) && args[i] != "--" && isFlag(args[i]) {
		a := args[i]
		out = append(out, a)
		i++
		if global[flagName(a)] && !strings.Contains(a, "=") && i < len(args) {
			out = append(out, args[i])
			i++
		}
	}
	if i >= len(args) {
		return out
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return append(out, args[i:]...)
	}
	path := []string{args[i]} // the command and its subcommands
	i++
	for len(cmd.Subcommands) > 0 && i < len(args) {
		sub := cmd.Command(args[i])
		if sub == nil {
			break
		}
		cmd = sub
		path = append(path, args[i])
		i++
	}
	local := takesValue(cmd.Flags)
	var globals, flags, positional []string
	for i < len(args) {
		a := args[i]
		i++
		if a == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if !isFlag(a) {
			positional = append(positional, a)
			continue
		}
		n := flagName(a)
		dst, value := &flags, false
		if v, ok := local[n]; ok {
			value = v
		} else if v, ok := global[n]; ok {
			dst, value = &globals, v
		}
		*dst = append(*dst, a)
		if value && !strings.Contains(a, "=") {
			if i == len(args) {
				// The value is missing: leave only the flag, so that the
				// parser says so instead of taking "--" as its value.
				if dst == &globals {
					return []string{args[0], a}
				}
				return append(append([]string{args[0]}, path...), a)
			}
			*dst = append(*dst, args[i])
			i++
		}
	}
	out = append(out, globals...)
	out = append(out, path...)
	out = append(out, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

// takesValue maps every name of flags to whether the flag takes a value.
func takesValue(flags []cli.Flag) map[string]bool {
	m := make(map[string]bool)
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			m[n] = !isBool
		}
	}
	return m
}

// isFlag reports whether a looks like a flag; a lone "-" (stdin) does not.
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// flagName is the name in "-x", "--name" or "--name=value".
func flagName(a string) string {
	n := strings.TrimLeft(a, "-")
	n, _, _ = strings.Cut(n, "=")
	return n
}
