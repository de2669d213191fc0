package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module version is used.
var version = ""

// buildVersion returns the version of this binary ("devel" when unknown).
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// versionInfo is what `baton version` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
}

func readVersionInfo() versionInfo {
	v := versionInfo{
		Version:  buildVersion(),
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	return v
}

func (e *env) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of this baton binary",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "version takes no arguments")
			}
			v := readVersionInfo()
			if jsonOutput(c) {
				return writeJSON(e.stdout, v)
			}
			tw := newTable(e.stdout)
			fmt.Fprintf(tw, "version:\t%s\n", v.Version)
			fmt.Fprintf(tw, "go:\t%s %s\n", v.Go, v.Platform)
			if v.Commit != "" {
				commit := v.Commit
				if v.Modified {
					commit += " (modified)"
				}
				if v.Time != "" {
					commit += ", " + v.Time
				}
				fmt.Fprintf(tw, "commit:\t%s\n", commit)
			}
			return tw.Flush()
		},
	}
}
