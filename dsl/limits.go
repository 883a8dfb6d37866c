package dsl

import "time"

// MaxDuration bounds every duration a scenario writes (a step's timeout, a
// sleep, an interval): a longer one is a typo, and a near-maximum one would
// overflow into a negative deadline.
const MaxDuration = 24 * time.Hour

const maxDurationText = "24h"

// zeroDuration reports whether s is a valid duration of zero ("0s", "0").
func zeroDuration(s string) bool {
	d, err := time.ParseDuration(s)
	return err == nil && d == 0
}
