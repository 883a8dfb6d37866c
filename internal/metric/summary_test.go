package metric

import "testing"

func TestSummarize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		{[]float64{7}, Summary{Count: 1, Min: 7, Median: 7, P95: 7, Max: 7, Mean: 7}},
		{[]float64{3, 1, 2}, Summary{Count: 3, Min: 1, Median: 2, P95: 3, Max: 3, Mean: 2}},
		{[]float64{4, 1, 3, 2}, Summary{Count: 4, Min: 1, Median: 2.5, P95: 4, Max: 4, Mean: 2.5}},
		// 20 values 1..20: the nearest rank of p95 is the 19th.
		{[]float64{20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1},
			Summary{Count: 20, Min: 1, Median: 10.5, P95: 19, Max: 20, Mean: 10.5}},
	} {
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	in := []float64{3, 1, 2}
	Summarize(in)
	if in[0] != 3 {
		t.Error("Summarize sorted its argument in place")
	}
	s := Summarize([]float64{1, 2})
	for stat, want := range map[string]float64{"min": 1, "median": 1.5, "p95": 2, "max": 2, "mean": 1.5, "count": 2} {
		if got, ok := s.Of(stat); !ok || got != want {
			t.Errorf("Of(%q) = %v %v, want %v", stat, got, ok, want)
		}
	}
	if _, ok := s.Of("p99"); ok {
		t.Error("Of(p99) is known")
	}
}
