package main

import (
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	t.Parallel()
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "3deac13abc"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}}
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, GoVersion: "go1.26.8", Settings: vcs}, "drill v1.2.0 (commit 3deac13abc, 2026-12-01T10:00:00Z, go1.26.8)"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: append(vcs, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "drill (devel) (commit 3deac13abc, modified, 2026-12-01T10:00:00Z)"},
		{debug.BuildInfo{GoVersion: "go1.26.8"}, "drill (devel) (go1.26.8)"},
		{debug.BuildInfo{}, "drill (devel)"},
	} {
		if got := formatVersion(&tc.bi); got != tc.want {
			t.Errorf("formatVersion(%+v) = %q, want %q", tc.bi, got, tc.want)
		}
	}
}
