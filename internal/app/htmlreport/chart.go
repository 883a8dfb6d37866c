package htmlreport

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/timeline"
)

// The chart's geometry, in SVG user units (the SVG scales to the page).
const (
	chartWidth = 1100.0
	plotLeft   = 200.0 // the label column
	plotRight  = 16.0
	plotWidth  = chartWidth - plotLeft - plotRight
	// maxBars caps the bars of a writer row: buckets are summed into bins
	// of whole buckets so that a bin is at least about 1.5 units wide (a 10
	// minute run keeps its file small); each bin's title says its width.
	maxBars = 600
)

// chart is one scenario's timeline as SVG marks.
type chart struct {
	Width, Height float64
	PlotLeft      float64
	PlotWidth     float64
	T0Ms          int64 // the scenario's start, Unix ms (for the cursor)
	SpanMs        int64
	Rows          []*row
	Lines         []mark // moment lines across all rows
	Notes         []string
	Legend        []legendItem
}

// row is one lane: a label on the left and its marks.
type row struct {
	Y, H   float64
	Label  string
	Sub    string
	Class  string
	Marks  []mark
	Anchor string // data-row, for tests and the DOM
}

// mark is one SVG element. Kind is rect, line, path, circle or text.
type mark struct {
	Kind                  string
	X, Y, W, H, X2, Y2, R float64
	D                     string
	Class                 string
	Title                 string
	Text                  string
	Anchor                string // text-anchor
}

type legendItem struct {
	Class, Text string
}

// axis maps times to x.
type axis struct {
	t0, t1 time.Time
}

func (a axis) x(t time.Time) float64 {
	span := wallSub(a.t1, a.t0)
	if span <= 0 {
		return plotLeft
	}
	f := float64(wallSub(t, a.t0)) / float64(span)
	return plotLeft + math.Max(0, math.Min(1, f))*plotWidth
}

// at describes a moment for titles: "12:00:03.123 (+3.123 s)".
func (a axis) at(t time.Time) string {
	return clock(t, false) + " (" + offset(t, a.t0) + ")"
}

// between describes a window for titles.
func (a axis) between(from, to time.Time) string {
	return fmt.Sprintf("from %s to %s, %.3f s", a.at(from), a.at(to), wallSub(to, from).Seconds())
}

func buildChart(s *report.Scenario) *chart {
	ax := axis{s.Started, s.Finished}
	c := &chart{Width: chartWidth, PlotLeft: plotLeft, PlotWidth: plotWidth,
		T0Ms: s.Started.UnixMilli(), SpanMs: wallSub(s.Finished, s.Started).Milliseconds()}
	tl := s.Timeline
	if tl == nil {
		tl = &timeline.Timeline{}
	}
	faults := faultWindows(s)
	y := 0.0
	add := func(r *row) {
		r.Y = y
		y += r.H + 4
		c.Rows = append(c.Rows, r)
	}
	add(axisRow(ax))
	mom, lines := momentsRow(s, ax)
	add(mom)
	add(stepsRow(s, ax))
	for i, f := range faults {
		add(faultRow(i, f, ax))
	}
	if len(faults) == 0 {
		add(&row{H: 18, Label: "faults", Class: "lane", Anchor: "faults", Marks: []mark{noteMark("no fault injected")}})
	}
	add(patroniRow(tl.Roles, ax))
	add(rolesHeading(tl.Roles))
	for _, r := range memberRows(tl.Roles, faults, ax, s.Finished) {
		add(r)
	}
	for _, w := range tl.Writes {
		add(writerRow(w, s, ax))
	}
	if len(tl.Writes) == 0 {
		add(&row{H: 18, Label: "writes", Class: "lane", Anchor: "writes", Marks: []mark{noteMark("not recorded: no writer ran in this scenario (or the journal predates per-bucket counts)")}})
	}
	for _, rd := range tl.Reads {
		add(readerRow(rd, ax))
	}
	for _, w := range tl.Watches {
		for _, r := range watchRows(w, ax) {
			add(r)
		}
	}
	add(lagRow(tl, ax))
	top, bottom := c.Rows[1].Y, y
	for i := range lines {
		lines[i].Y, lines[i].Y2 = top, bottom
	}
	c.Lines = lines
	c.Height = y
	if tl.Roles != nil {
		c.Notes = append(c.Notes, fmt.Sprintf("Member roles: %s sampled every %d ms from %s to %s (%d samples, %d without an answer); a role is drawn from the sample that first showed it.",
			tl.Roles.Source, tl.Roles.IntervalMS, clock(tl.Roles.Start, false), clock(tl.Roles.End, false), tl.Roles.Samples, tl.Roles.Failed))
	}
	c.Legend = legendOf(tl)
	return c
}

// legendOf lists what the chart's marks mean: the reads only when a
// reader's lane is drawn.
func legendOf(tl *timeline.Timeline) []legendItem {
	out := []legendItem{
		{"r-lead", "leader"}, {"r-sync", "sync standby"}, {"r-rep", "replica"}, {"r-off", "offline / absent"}, {"r-unk", "no answer"},
		{"flt", "fault window"}, {"w-ack", "acknowledged writes"}, {"w-fail", "failed writes"}, {"w-ind", "indeterminate writes"},
	}
	if len(tl.Reads) > 0 {
		out = append(out, legendItem{"rd-ok", "successful reads"}, legendItem{"rd-fail", "failed reads"})
	}
	return append(out, legendItem{"sb-p", "accepted a probe write"}, legendItem{"sb-over", "more than one primary"})
}

func noteMark(text string) mark {
	return mark{Kind: "text", X: plotLeft + 4, Y: 13, Class: "note", Text: text}
}

// axisRow draws the time axis: ticks at a round step, labelled with the
// offset from the scenario's start.
func axisRow(ax axis) *row {
	r := &row{H: 22, Label: "time since start", Sub: clock(ax.t0, false) + " UTC", Class: "axis", Anchor: "axis"}
	span := wallSub(ax.t1, ax.t0).Seconds()
	step := niceStep(span / 10)
	for s := 0.0; s <= span+1e-9; s += step {
		t := ax.t0.Add(time.Duration(s * float64(time.Second)))
		x := ax.x(t)
		r.Marks = append(r.Marks, mark{Kind: "line", X: x, Y: 14, X2: x, Y2: 22, Class: "tick"},
			mark{Kind: "text", X: x, Y: 11, Text: fmt.Sprintf("%gs", math.Round(s*1000)/1000), Class: "tick-label", Anchor: "middle", Title: clock(t, false)})
	}
	return r
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// momentsRow marks the time of every *_at metric (fault_at,
// leader_seen_at, promoted_at...), with labels on three levels so that
// neighbours stay readable, and returns the lines drawn across the chart.
func momentsRow(s *report.Scenario, ax axis) (*row, []mark) {
	r := &row{H: 46, Label: "moments", Sub: "the *_at metrics", Class: "lane", Anchor: "moments"}
	type moment struct {
		name string
		t    time.Time
	}
	var ms []moment
	for _, m := range s.Metrics {
		if !strings.HasSuffix(m.Name, "_at") {
			continue
		}
		if t, ok := asTime(m.Value); ok {
			name := m.Name
			if m.Step != "" {
				name = m.Step + "." + m.Name
			}
			ms = append(ms, moment{name, t})
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].t.Before(ms[j].t) })
	var lines []mark
	var spans []labelSpan
	for _, m := range ms {
		spans = append(spans, labelSpan{ax.x(m.t), m.name})
	}
	levels, n := stagger(spans)
	r.H = max(20, 8+13*float64(n))
	for i, m := range ms {
		x := ax.x(m.t)
		ty := 12 + float64(levels[i])*13
		title := m.name + " = " + clock(m.t, true) + " (" + offset(m.t, ax.t0) + ")"
		r.Marks = append(r.Marks,
			mark{Kind: "path", D: fmt.Sprintf("M%.1f %.1f l-4 -7 h8 z", x, ty+2), Class: "moment", Title: title},
			mark{Kind: "text", X: x + 5, Y: ty, Text: m.name, Class: "moment-label", Title: title})
		lines = append(lines, mark{Kind: "line", X: x, X2: x, Class: "moment-line"})
	}
	if len(ms) == 0 {
		r.Marks = append(r.Marks, noteMark("no *_at metric was recorded"))
	}
	return r, lines
}

// labelSpan is a label starting at x (just right of its marker).
type labelSpan struct {
	x    float64
	text string
}

// stagger puts each label, in order, on the first level where it does not
// overlap the label before it, opening a new level when none is free; it
// returns each label's level and the number of levels used.
func stagger(spans []labelSpan) ([]int, int) {
	var ends []float64
	levels := make([]int, len(spans))
	for i, sp := range spans {
		l := slices.IndexFunc(ends, func(end float64) bool { return end < sp.x })
		if l < 0 {
			l = len(ends)
			ends = append(ends, 0)
		}
		ends[l] = sp.x + 8 + textWidth(sp.text)
		levels[i] = l
	}
	return levels, len(ends)
}

// stepsRow draws every step that ran as a bar from its start for its
// duration, labelled when it fits.
func stepsRow(s *report.Scenario, ax axis) *row {
	r := &row{H: 22, Label: "steps", Class: "lane", Anchor: "steps"}
	for i, st := range append(slices.Clone(s.Steps), s.Cleanup...) {
		if st.Status == report.Skipped || st.Started.IsZero() {
			continue
		}
		x0, x1 := ax.x(st.Started), ax.x(st.Started.Add(st.Duration))
		w := math.Max(x1-x0, 1.5)
		sv := statusOf(st.Status)
		title := fmt.Sprintf("step %d: %s (%s) %s %s", i+1, st.Name, st.Kind, sv.Word, ax.between(st.Started, st.Started.Add(st.Duration)))
		if st.Message != "" {
			title += "\n" + st.Message
		}
		cls := "step step-" + sv.Class
		if i%2 == 1 {
			cls += " alt"
		}
		r.Marks = append(r.Marks, mark{Kind: "rect", X: x0, Y: 2, W: w, H: 18, Class: cls, Title: title})
		if lbl := fit(st.Name, w); lbl != "" {
			r.Marks = append(r.Marks, mark{Kind: "text", X: x0 + 3, Y: 15, Text: lbl, Class: "in-label", Title: title})
		}
	}
	return r
}

// faultWindow is one fault from its injection to its undo, read from the
// run's events ("fault", then "undo" with the fault's description).
type faultWindow struct {
	Desc, Step, Verb, How string
	Start, End            time.Time
	Open                  bool
	Members               []string // the members it hit (see faultMembers)
}

func faultWindows(s *report.Scenario) []faultWindow {
	var out []faultWindow
	for i, e := range s.Events {
		if e.Type != "fault" {
			continue
		}
		f := faultWindow{Desc: e.Message, Step: e.Step, Start: e.At, End: s.Finished, Open: true, How: "still open when the scenario ended"}
		f.Verb, f.Members = faultMembers(e.Message)
		for _, u := range s.Events[i+1:] {
			if u.Type == "undo" && strings.HasPrefix(u.Message, e.Message+": ") {
				f.End, f.Open, f.How = u.At, false, strings.TrimPrefix(u.Message, e.Message+": ")
				break
			}
		}
		out = append(out, f)
	}
	return out
}

var memberRe = regexp.MustCompile(`member ([A-Za-z0-9_.-]+)`)

// faultMembers reads from a fault's description what it does (its first
// word: stop, kill, pause, partition...) and which members it hit, from
// the "member NAME" that drill writes for every unit of a member. For a
// partition, the members hit are those of its smallest group (the side
// cut off). The descriptions are drill's own, so this is a reading of a
// known format, not a guess at free text.
func faultMembers(desc string) (string, []string) {
	verb, _, _ := strings.Cut(desc, " ")
	text := desc
	if verb == "partition" {
		if _, groups, ok := strings.Cut(desc, ": "); ok {
			best := -1
			for _, g := range strings.Split(groups, " | ") {
				n := len(memberRe.FindAllString(g, -1)) + strings.Count(g, "service ")
				if best < 0 || n < best {
					best, text = n, g
				}
			}
		}
	}
	var members []string
	for _, m := range memberRe.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(members, m[1]) {
			members = append(members, m[1])
		}
	}
	return verb, members
}

// faultState is what a fault makes of a member on its role row.
func faultState(verb string) string {
	switch verb {
	case "stop", "kill":
		return "offline (" + verb + ")"
	case "pause", "freeze":
		return "paused"
	case "partition", "disconnect":
		return "partitioned"
	}
	return verb
}

func faultRow(i int, f faultWindow, ax axis) *row {
	label := fmt.Sprintf("fault %d: %s", i+1, f.Verb)
	r := &row{H: 20, Label: label, Sub: strings.Join(f.Members, ", "), Class: "lane", Anchor: "fault"}
	x0, x1 := ax.x(f.Start), ax.x(f.End)
	title := fmt.Sprintf("fault %d (step %q): %s\n%s, from drill's request to the undo; %s", i+1, f.Step, f.Desc, ax.between(f.Start, f.End), f.How)
	r.Marks = append(r.Marks, mark{Kind: "rect", X: x0, Y: 2, W: math.Max(x1-x0, 2), H: 16, Class: "flt", Title: title})
	text := f.Verb
	if f.Open {
		text += " (open at the end)"
	}
	if lbl := fit(text+" "+strings.Join(f.Members, ", "), x1-x0); lbl != "" {
		r.Marks = append(r.Marks, mark{Kind: "text", X: x0 + 3, Y: 14, Text: lbl, Class: "in-label dark", Title: title})
	}
	return r
}

// patroniRow marks Patroni's events seen by the role sampler: the leader at
// the start and each change of leader, and each new timeline.
func patroniRow(roles *timeline.Roles, ax axis) *row {
	r := &row{H: 30, Label: "Patroni events", Sub: "leader, timeline changes", Class: "lane", Anchor: "patroni"}
	if roles == nil || len(roles.Changes) == 0 {
		r.Marks = append(r.Marks, noteMark("not recorded: no role samples in this journal"))
		return r
	}
	type event struct {
		at         time.Time
		text, kind string
	}
	var evs []event
	leader, tli, first := "", int64(-1), true
	for _, smp := range roles.Changes {
		if smp.Error != "" {
			continue
		}
		l, t := "", int64(-1)
		for _, m := range smp.Members {
			if m.Role == "leader" || m.Role == "standby_leader" {
				l = m.Name
			}
			if m.Timeline != nil && *m.Timeline > t {
				t = *m.Timeline
			}
		}
		switch {
		case first:
			evs = append(evs, event{smp.At, "leader at start: " + orNot(l, "none"), "leader"})
		case l != leader:
			evs = append(evs, event{smp.At, "leader " + orNot(l, "none"), "leader"})
		}
		leader = l
		if t > tli && !first {
			evs = append(evs, event{smp.At, fmt.Sprintf("timeline %d", t), "timeline"})
		}
		tli = max(tli, t)
		first = false
	}
	spans := make([]labelSpan, len(evs))
	for i, e := range evs {
		spans[i] = labelSpan{ax.x(e.at) - 3, e.text}
	}
	levels, n := stagger(spans)
	r.H = max(30, 18+12*float64(n))
	for i, e := range evs {
		x := ax.x(e.at)
		title := e.text + " (first seen) at " + ax.at(e.at)
		if e.kind == "leader" {
			r.Marks = append(r.Marks, mark{Kind: "path", D: fmt.Sprintf("M%.1f 2 l5 6 l-5 6 l-5 -6 z", x), Class: "evt-leader", Title: title})
		} else {
			r.Marks = append(r.Marks, mark{Kind: "rect", X: x - 4, Y: 4, W: 8, H: 8, Class: "evt-tl", Title: title})
		}
		r.Marks = append(r.Marks, mark{Kind: "text", X: x - 3, Y: 25 + 12*float64(levels[i]), Text: e.text, Class: "evt-label", Title: title})
	}
	return r
}

func rolesHeading(roles *timeline.Roles) *row {
	r := &row{H: 24, Label: "members", Sub: "role in GET /cluster", Class: "heading", Anchor: "members"}
	if roles == nil {
		r.Marks = append(r.Marks, noteMark("not recorded: this journal has no role samples"))
	} else {
		r.Marks = append(r.Marks, mark{Kind: "text", X: plotLeft + 4, Y: 11, Class: "note",
			Text: fmt.Sprintf("sampled every %d ms; the lower band shows the faults on each member", roles.IntervalMS)})
	}
	return r
}

// roleOf classifies one member in one sample: a CSS class and a label.
func roleOf(m *timeline.MemberRole, sampleErr string) (string, string) {
	switch {
	case sampleErr != "":
		return "r-unk", "no answer"
	case m == nil:
		return "r-off", "absent"
	}
	switch m.State {
	case "stopped", "crashed", "stopping", "start failed", "stop failed":
		return "r-off", m.State
	}
	word := strings.ReplaceAll(m.Role, "_", " ")
	cls := "r-rep"
	switch m.Role {
	case "leader", "standby_leader", "master", "primary":
		cls = "r-lead"
	case "sync_standby":
		cls = "r-sync"
	}
	if m.State != "running" && m.State != "streaming" && m.State != "" {
		word += ", " + m.State
	}
	return cls, word
}

// memberRows draws each member's role from the role samples, with the
// faults that hit it as a band along its bottom.
func memberRows(roles *timeline.Roles, faults []faultWindow, ax axis, end time.Time) []*row {
	if roles == nil {
		return nil
	}
	var names []string
	for _, smp := range roles.Changes {
		for _, m := range smp.Members {
			if !slices.Contains(names, m.Name) {
				names = append(names, m.Name)
			}
		}
	}
	for _, f := range faults {
		for _, m := range f.Members {
			if !slices.Contains(names, m) {
				names = append(names, m)
			}
		}
	}
	last := roles.End
	if last.IsZero() || last.After(end) {
		last = end
	}
	var rows []*row
	for _, name := range names {
		r := &row{H: 26, Label: name, Class: "lane member", Anchor: "member"}
		var starts []time.Time // of each segment in r.Marks
		for i, smp := range roles.Changes {
			to := last
			if i+1 < len(roles.Changes) {
				to = roles.Changes[i+1].At
			}
			var mr *timeline.MemberRole
			for j := range smp.Members {
				if smp.Members[j].Name == name {
					mr = &smp.Members[j]
				}
			}
			cls, word := roleOf(mr, smp.Error)
			// extend the previous segment when nothing changed for this member
			if n := len(r.Marks); n > 0 && r.Marks[n-1].Text == word {
				prev := &r.Marks[n-1]
				prev.W = math.Max(ax.x(to)-prev.X, 1)
				prev.Title = segTitle(name, word, mr, starts[n-1], to, ax)
				continue
			}
			x0 := ax.x(smp.At)
			r.Marks = append(r.Marks, mark{Kind: "rect", X: x0, Y: 2, W: math.Max(ax.x(to)-x0, 1), H: 15, Class: "role " + cls, Text: word,
				Title: segTitle(name, word, mr, smp.At, to, ax)})
			starts = append(starts, smp.At)
		}
		var labels []mark
		for _, mk := range r.Marks {
			if lbl := fit(mk.Text, mk.W); lbl != "" {
				cls := "in-label"
				if strings.Contains(mk.Class, "r-lead") {
					cls += " light"
				}
				labels = append(labels, mark{Kind: "text", X: mk.X + 3, Y: 13.5, Text: lbl, Class: cls, Title: mk.Title})
			}
		}
		r.Marks = append(r.Marks, labels...)
		for _, f := range faults {
			if !slices.Contains(f.Members, name) {
				continue
			}
			x0, x1 := ax.x(f.Start), ax.x(f.End)
			state := faultState(f.Verb)
			title := fmt.Sprintf("%s: %s %s\n%s", name, state, ax.between(f.Start, f.End), f.Desc)
			r.Marks = append(r.Marks, mark{Kind: "rect", X: x0, Y: 18, W: math.Max(x1-x0, 2), H: 7, Class: "flt band", Title: title})
			if lbl := fit(state, x1-x0); lbl != "" {
				r.Marks = append(r.Marks, mark{Kind: "text", X: x0 + 3, Y: 24.5, Text: lbl, Class: "band-label", Title: title})
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func segTitle(name, word string, m *timeline.MemberRole, from, to time.Time, ax axis) string {
	s := fmt.Sprintf("%s: %s %s", name, word, ax.between(from, to))
	if m != nil {
		if m.Timeline != nil {
			s += fmt.Sprintf("; timeline %d", *m.Timeline)
		}
		if m.LagBytes != nil {
			s += fmt.Sprintf("; lag %d bytes", *m.LagBytes)
		}
	}
	return s
}

// writerRow draws a writer's acknowledged writes per bin upwards and its
// failed and indeterminate ones downwards, and marks the longest gap
// between two acknowledgements (the max_ack_gap_s metric writer.stop
// recorded, else the longest run of bins without one).
func writerRow(w timeline.Writes, s *report.Scenario, ax axis) *row {
	r := &row{H: 64, Label: "writes: " + w.Writer, Class: "lane writes", Anchor: "writes"}
	if len(w.Acknowledged) == 0 || w.BucketMS <= 0 {
		r.Marks = append(r.Marks, noteMark("the writer made no attempt"))
		return r
	}
	barLane(r, ax, w.Start, w.BucketMS, barSeries{w.Acknowledged, "w-ack"}, []barSeries{{w.Failed, "w-fail"}, {w.Indeterminate, "w-ind"}},
		func(from, to time.Time, n []int) string {
			return fmt.Sprintf("%s–%s (%s): %d acknowledged, %d failed, %d indeterminate", clock(from, false), clock(to, false), offset(from, ax.t0), n[0], n[1], n[2])
		})
	if g, ok := longestGap(w, s); ok {
		d := wallSub(g.to, g.from).Seconds()
		label := fmt.Sprintf("longest gap %.3f s", d)
		if g.open {
			label = fmt.Sprintf("no acknowledgement for %.3f s at the stop", d)
		}
		bracket(r, ax, g.from, g.to, fmt.Sprintf("longest gap between acknowledged writes: %.3f s, %s (%s)", d, ax.between(g.from, g.to), g.how), label)
	}
	return r
}

// readerRow draws a reader's successful reads per bin upwards and its
// failed ones downwards, and marks its longest outage (reader.stop's
// read_outage_s), or the outage still open when it stopped.
func readerRow(rd timeline.Reads, ax axis) *row {
	r := &row{H: 64, Label: "reads: " + rd.Reader, Class: "lane reads", Anchor: "reads"}
	if len(rd.OK) == 0 || rd.BucketMS <= 0 {
		r.Marks = append(r.Marks, noteMark("the reader made no read"))
		return r
	}
	through := ""
	if rd.On != "" {
		through = ", through " + rd.On
	}
	barLane(r, ax, rd.Start, rd.BucketMS, barSeries{rd.OK, "rd-ok"}, []barSeries{{rd.Failed, "rd-fail"}},
		func(from, to time.Time, n []int) string {
			return fmt.Sprintf("%s–%s (%s): %d reads ok, %d failed%s", clock(from, false), clock(to, false), offset(from, ax.t0), n[0], n[1], through)
		})
	if o := rd.Outage; o != nil {
		d := wallSub(o.End, o.Start).Seconds()
		title := fmt.Sprintf("longest read outage: %.3f s, %s (read_outage_s: from the start of a failed read to the end of the first successful read that began after it)", d, ax.between(o.Start, o.End))
		label := fmt.Sprintf("longest outage %.3f s", d)
		if o.Open {
			title = fmt.Sprintf("reads still failing when the reader stopped: %s, from the first failed read that no successful read followed (read_outage_s not measured)", ax.between(o.Start, o.End))
			label = "reads failing at the end"
		}
		bracket(r, ax, o.Start, o.End, title, label)
	}
	return r
}

// barBase is the baseline of a bar lane: bars rise up to 36 units above
// it, and fall up to 18 below.
const barBase = 42.0

// barSeries is one count per bucket, drawn as bars of class.
type barSeries struct {
	counts []int
	class  string
}

// barLane draws counts per bucket of bucketMS from start on r: up as bars
// rising from the baseline, the down series stacked below it, in order.
// Buckets are summed into bins of whole buckets, at most maxBars; title
// describes one bin from its sums (up first, then down).
func barLane(r *row, ax axis, start time.Time, bucketMS int64, up barSeries, down []barSeries, title func(from, to time.Time, sums []int) string) {
	n := len(up.counts)
	k := (n + maxBars - 1) / maxBars
	bin := time.Duration(int64(k)*bucketMS) * time.Millisecond
	r.Sub = fmt.Sprintf("per %d ms: ▲ ok, ▼ failed", bin.Milliseconds())
	series := append([]barSeries{up}, down...)
	bins := make([][]int, (n+k-1)/k)
	for b := range bins {
		bins[b] = make([]int, len(series))
	}
	for i := range n {
		for j, sr := range series {
			if i < len(sr.counts) {
				bins[i/k][j] += sr.counts[i]
			}
		}
	}
	peak, peakDown := 1, 1
	for _, b := range bins {
		sumDown := 0
		for _, c := range b[1:] {
			sumDown += c
		}
		peak, peakDown = max(peak, b[0]), max(peakDown, sumDown)
	}
	for i, b := range bins {
		from := start.Add(time.Duration(i) * bin)
		to := from.Add(bin)
		x0, x1 := ax.x(from), ax.x(to)
		bw := math.Max(x1-x0-0.2, 0.6)
		t := title(from, to, b)
		if b[0] > 0 {
			h := 36 * float64(b[0]) / float64(peak)
			r.Marks = append(r.Marks, mark{Kind: "rect", X: x0, Y: barBase - h, W: bw, H: h, Class: up.class, Title: t})
		}
		y := barBase + 1
		for j, sr := range down {
			if c := b[j+1]; c > 0 {
				h := 18 * float64(c) / float64(peakDown)
				r.Marks = append(r.Marks, mark{Kind: "rect", X: x0, Y: y, W: bw, H: h, Class: sr.class, Title: t})
				y += h
			}
		}
	}
	r.Marks = append(r.Marks, mark{Kind: "line", X: ax.x(start), Y: barBase + 0.5, X2: ax.x(start.Add(time.Duration(n) * time.Duration(bucketMS) * time.Millisecond)), Y2: barBase + 0.5, Class: "baseline"})
	r.Marks = append(r.Marks, mark{Kind: "text", X: plotLeft - 4, Y: 10, Text: fmt.Sprint(peak), Class: "scale", Anchor: "end"})
}

// bracket marks a window over a bar lane, the longest gap or outage: a
// bracket along the top, a shaded area down to the baseline, and a label
// after it.
func bracket(r *row, ax axis, from, to time.Time, title, label string) {
	x0, x1 := ax.x(from), ax.x(to)
	r.Marks = append(r.Marks,
		mark{Kind: "path", D: fmt.Sprintf("M%.1f 8 v-5 H%.1f v5", x0, x1), Class: "gap", Title: title},
		mark{Kind: "rect", X: x0, Y: 3, W: math.Max(x1-x0, 1), H: barBase - 3, Class: "gap-area", Title: title},
		mark{Kind: "text", X: x1 + 3, Y: 12, Text: label, Class: "gap-label", Title: title})
}

// ackGap is a window without acknowledged writes.
type ackGap struct {
	from, to time.Time
	how      string // what it was read from
	open     bool   // still going on when the writer stopped
}

// longestGap is the window of the longest gap between acknowledgements:
// from writer.stop's max_ack_gap_s and ack_gap_ended_at when recorded;
// from max_ack_gap_s alone when the gap was still open at writer.stop
// (ack_gap_ended_at is then not recorded: it ends with the last bucket);
// else from the buckets (to their resolution), a trailing run of buckets
// without an acknowledgement counting as an open gap.
func longestGap(w timeline.Writes, s *report.Scenario) (ackGap, bool) {
	var gap float64
	var end time.Time
	haveGap, haveEnd := false, false
	for _, m := range s.Metrics {
		if w.Step != "" && m.Step != w.Step {
			continue
		}
		switch m.Name {
		case "max_ack_gap_s":
			gap, haveGap = m.Value.(float64)
		case "ack_gap_ended_at":
			end, haveEnd = asTime(m.Value)
		}
	}
	b := time.Duration(w.BucketMS) * time.Millisecond
	last := w.Start.Add(time.Duration(len(w.Acknowledged)) * b)
	d := time.Duration(gap * float64(time.Second))
	switch {
	case haveGap && haveEnd:
		return ackGap{end.Add(-d), end, "max_ack_gap_s and ack_gap_ended_at", false}, true
	case haveGap && d > 0:
		return ackGap{last.Add(-d), last, "max_ack_gap_s, still open when the writer stopped", true}, true
	}
	best, bestFrom, run, runFrom := 0, 0, 0, 0
	seen := false
	for i, a := range w.Acknowledged {
		if a > 0 {
			if seen && run > best {
				best, bestFrom = run, runFrom
			}
			seen, run = true, 0
			continue
		}
		if run == 0 {
			runFrom = i
		}
		run++
	}
	open := seen && run > best
	if open {
		best, bestFrom = run, runFrom
	}
	if best == 0 {
		return ackGap{}, false
	}
	from := w.Start.Add(time.Duration(bestFrom) * b)
	how := fmt.Sprintf("from the %d ms buckets", w.BucketMS)
	if open {
		how += ", still open when the writer stopped"
	}
	return ackGap{from, from.Add(time.Duration(best) * b), how, open}, true
}

var sbClass = map[string]string{"primary": "sb-p", "read_only": "sb-ro", "unknown": "sb-unk"}
var sbWord = map[string]string{"primary": "accepts writes", "read_only": "read-only", "unknown": "no answer"}

// watchRows draws what a split-brain watcher saw of each member, and the
// windows in which more than one member accepted writes.
func watchRows(w timeline.Watch, ax axis) []*row {
	head := &row{H: 24, Label: "split-brain watch", Sub: fmt.Sprintf("probe every %d ms", w.IntervalMS), Class: "lane", Anchor: "split-brain"}
	if len(w.Overlaps) == 0 {
		head.Marks = append(head.Marks, noteMark("never more than one member accepted writes at once"))
	}
	for _, o := range w.Overlaps {
		title := fmt.Sprintf("%d primaries accepted writes (%s) %s", len(o.Members), strings.Join(o.Members, ", "), ax.between(o.Start, o.End))
		x0, x1 := ax.x(o.Start), ax.x(o.End)
		head.Marks = append(head.Marks, mark{Kind: "rect", X: x0, Y: 2, W: math.Max(x1-x0, 2), H: 14, Class: "sb-over", Title: title},
			mark{Kind: "text", X: x1 + 3, Y: 13, Text: fmt.Sprintf("%d primaries", len(o.Members)), Class: "evt-label", Title: title})
	}
	rows := []*row{head}
	byMember := map[string]*row{}
	for _, sp := range w.States {
		if len(sp.Members) == 0 {
			continue
		}
		name := sp.Members[0]
		r, ok := byMember[name]
		if !ok {
			r = &row{H: 16, Label: "probe: " + name, Class: "lane probe", Anchor: "probe"}
			byMember[name] = r
			rows = append(rows, r)
		}
		x0, x1 := ax.x(sp.Start), ax.x(sp.End)
		word := sbWord[sp.State]
		title := fmt.Sprintf("%s: %s %s", name, word, ax.between(sp.Start, sp.End))
		r.Marks = append(r.Marks, mark{Kind: "rect", X: x0, Y: 2, W: math.Max(x1-x0, 1), H: 12, Class: sbClass[sp.State], Title: title})
		if lbl := fit(word, x1-x0); lbl != "" {
			cls := "in-label small"
			if sp.State == "primary" {
				cls += " light"
			}
			r.Marks = append(r.Marks, mark{Kind: "text", X: x0 + 3, Y: 11.5, Text: lbl, Class: cls, Title: title})
		}
	}
	return rows
}

// lagRow draws replication lag: each lag watcher's samples, and the lag
// Patroni reported for each replica in the role samples.
func lagRow(tl *timeline.Timeline, ax axis) *row {
	r := &row{H: 66, Label: "replication lag", Sub: "bytes", Class: "lane lag", Anchor: "lag"}
	type pt struct {
		t time.Time
		v *int64
	}
	type series struct {
		name string
		pts  []pt
	}
	var all []series
	for _, l := range tl.Lag {
		s := series{name: "watch " + l.Watcher + " on " + l.On}
		for _, p := range l.Samples {
			s.pts = append(s.pts, pt{p.At, p.Bytes})
		}
		all = append(all, s)
	}
	if tl.Roles != nil {
		byName := map[string]*series{}
		var order []string
		for _, smp := range tl.Roles.Changes {
			for _, m := range smp.Members {
				if m.LagBytes == nil {
					continue
				}
				s, ok := byName[m.Name]
				if !ok {
					s = &series{name: "Patroni: " + m.Name}
					byName[m.Name] = s
					order = append(order, m.Name)
				}
				s.pts = append(s.pts, pt{smp.At, m.LagBytes})
			}
		}
		for _, n := range order {
			all = append(all, *byName[n])
		}
	}
	var peak int64 = 1
	for _, s := range all {
		for _, p := range s.pts {
			if p.v != nil {
				peak = max(peak, *p.v)
			}
		}
	}
	if len(all) == 0 {
		r.Marks = append(r.Marks, noteMark("not recorded: no lag watcher, and Patroni reported no replica lag"))
		return r
	}
	r.Marks = append(r.Marks, mark{Kind: "text", X: plotLeft - 4, Y: 10, Text: humanBytes(peak), Class: "scale", Anchor: "end"})
	yOf := func(v int64) float64 { return 50 - 44*float64(v)/float64(peak) }
	for si, s := range all {
		var d strings.Builder
		step := max(1, len(s.pts)/300) // at most about 300 points per series
		pen := false
		var lastPeak int64 = -1
		for i := 0; i < len(s.pts); i += step {
			p := s.pts[i]
			// the largest value of the points merged into this one
			for _, q := range s.pts[i:min(i+step, len(s.pts))] {
				if q.v != nil && (p.v == nil || *q.v > *p.v) {
					p.v = q.v
				}
			}
			if p.v == nil {
				pen = false
				continue
			}
			x, y := ax.x(p.t), yOf(*p.v)
			if pen {
				fmt.Fprintf(&d, " H%.1f V%.1f", x, y)
			} else {
				fmt.Fprintf(&d, " M%.1f %.1f", x, y)
				pen = true
			}
			if *p.v != lastPeak {
				r.Marks = append(r.Marks, mark{Kind: "circle", X: x, Y: y, R: 2.2, Class: fmt.Sprintf("lag-pt s%d", si%4),
					Title: fmt.Sprintf("%s: %s at %s", s.name, humanBytes(*p.v), ax.at(p.t))})
				lastPeak = *p.v
			}
		}
		if d.Len() > 0 {
			r.Marks = append(r.Marks, mark{Kind: "path", D: strings.TrimSpace(d.String()), Class: fmt.Sprintf("lag-line s%d", si%4), Title: s.name})
			kx := plotLeft + 4 + float64(si)*210
			r.Marks = append(r.Marks, mark{Kind: "line", X: kx, Y: 60, X2: kx + 18, Y2: 60, Class: fmt.Sprintf("lag-line s%d", si%4)},
				mark{Kind: "text", X: kx + 22, Y: 63, Text: s.name, Class: "lag-key"})
		}
	}
	return r
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// textWidth estimates the width of a label in the chart's 10-unit font.
func textWidth(s string) float64 { return 5.6 * float64(len([]rune(s))) }

// fit returns s, or s cut with an ellipsis, when it fits in width; "" when
// not even a few letters do.
func fit(s string, width float64) string {
	room := int((width - 6) / 5.6)
	r := []rune(s)
	switch {
	case room >= len(r):
		return s
	case room < 4:
		return ""
	}
	return string(r[:room-1]) + "…"
}
