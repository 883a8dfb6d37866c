package metric

import (
	"math"
	"slices"
)

// Summary describes the values of one number metric over repeated runs.
type Summary struct {
	Count  int     `json:"count"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
}

// Summarize returns the summary of values, which must not be empty. The
// median of an even count is the mean of the two middle values; p95 is the
// nearest rank (the smallest value at or above 95 % of the values: with
// fewer than 20 values, the largest).
func Summarize(values []float64) Summary {
	v := slices.Clone(values)
	slices.Sort(v)
	n := len(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	median := v[n/2]
	if n%2 == 0 {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	rank := int(math.Ceil(0.95 * float64(n)))
	return Summary{Count: n, Min: v[0], Median: median, P95: v[max(rank, 1)-1], Max: v[n-1], Mean: sum / float64(n)}
}

// Of returns the named statistic of the summary: min, median, p95, max,
// mean or count.
func (s Summary) Of(stat string) (float64, bool) {
	switch stat {
	case "min":
		return s.Min, true
	case "median":
		return s.Median, true
	case "p95":
		return s.P95, true
	case "max":
		return s.Max, true
	case "mean":
		return s.Mean, true
	case "count":
		return float64(s.Count), true
	}
	return 0, false
}
