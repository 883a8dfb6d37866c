package pg

import (
	"math"
	"time"
)

// histogram records durations in logarithmic buckets 1% wide, from 1 µs to
// over an hour, in constant memory. Quantiles are accurate to 1%.
type histogram struct {
	counts []uint64
	total  uint64
}

const (
	histMin    = float64(time.Microsecond)
	histGrowth = 1.01
)

var histBuckets = int(math.Ceil(math.Log(float64(2*time.Hour)/histMin)/math.Log(histGrowth))) + 1

func newHistogram() *histogram { return &histogram{counts: make([]uint64, histBuckets)} }

func (h *histogram) record(d time.Duration) {
	i := 0
	if f := float64(d); f > histMin {
		i = int(math.Log(f/histMin)/math.Log(histGrowth)) + 1
	}
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the upper bound of the bucket holding quantile q, and
// false when nothing was recorded.
func (h *histogram) quantile(q float64) (time.Duration, bool) {
	if h.total == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(histMin * math.Pow(histGrowth, float64(i))), true
		}
	}
	return time.Duration(histMin * math.Pow(histGrowth, float64(len(h.counts)-1))), true
}
