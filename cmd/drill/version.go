package main

import (
	"runtime/debug"
	"strings"
)

// version is drill's module version and VCS commit, as the Go toolchain
// stamped them into the binary.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "drill (no build information)"
	}
	return formatVersion(bi)
}

// formatVersion renders build information as
// "drill VERSION (commit REV[, modified], TIME, GOVERSION)", leaving out
// what the build does not carry.
func formatVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var parts []string
	if rev != "" {
		c := "commit " + rev
		if modified {
			c += ", modified"
		}
		parts = append(parts, c)
	}
	if at != "" {
		parts = append(parts, at)
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	if len(parts) == 0 {
		return "drill " + v
	}
	return "drill " + v + " (" + strings.Join(parts, ", ") + ")"
}
