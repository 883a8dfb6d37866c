package hosts

import "testing"

func TestUnitsState(t *testing.T) {
	t.Parallel()
	for out, want := range map[string]string{
		"ActiveState=active\nFreezerState=running\n":                                             "running",
		"ActiveState=active\nFreezerState=running\n\nFreezerState=frozen\nActiveState=active\n":  "frozen",
		"ActiveState=inactive\nFreezerState=running\n\nActiveState=active\nFreezerState=running": "stopped (inactive)",
		"ActiveState=active\nFreezerState=running\n\nActiveState=failed\nFreezerState=running":   "failed",
		"ActiveState=deactivating\nFreezerState=running\n":                                       "stopped (deactivating)",
		"ActiveState=reloading\nFreezerState=running\n":                                          "running",
		"ActiveState=active\nFreezerState=thawing\n":                                             "frozen",
		"ActiveState=active\n": "running",
	} {
		if got := unitsState(out); got != want {
			t.Errorf("unitsState(%q) = %q, want %q", out, got, want)
		}
	}
}
