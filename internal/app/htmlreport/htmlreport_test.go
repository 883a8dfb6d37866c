package htmlreport

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/drill-dev/drill/internal/app/htmlreport/chromiumtest"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/golden"
	"github.com/drill-dev/drill/internal/timeline"
)

func render(t testing.TB, run *report.Run) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, run, report.NewMasker([]string{"hunter2"}), Options{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden renders the fixed synthetic run; rewrite testdata with
// -update and look at the result in a browser.
func TestGolden(t *testing.T) {
	t.Parallel()
	golden.Check(t, "testdata/synthetic.html", render(t, withReader(syntheticRun(60*time.Second, 50))))
}

// TestJournalRoundTrip: a journal read back renders exactly as the live run
// (metric times come back as text, numbers as float64).
func TestJournalRoundTrip(t *testing.T) {
	t.Parallel()
	run := withReader(syntheticRun(60*time.Second, 50))
	var journal bytes.Buffer
	if err := report.WriteJSON(&journal, run, nil); err != nil {
		t.Fatal(err)
	}
	back, err := report.ReadJSON(&journal)
	if err != nil {
		t.Fatal(err)
	}
	live, read := render(t, run), render(t, back)
	if !bytes.Equal(live, read) {
		t.Errorf("the journal read back renders differently from the live run (%d vs %d bytes); first difference at byte %d", len(live), len(read), firstDiff(live, read))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestDOM checks what is on the page: the timeline's lanes, titles on every
// mark, the checks, the steps and the fingerprint, and that nothing is
// loaded from elsewhere.
func TestDOM(t *testing.T) {
	t.Parallel()
	doc, err := html.Parse(bytes.NewReader(render(t, withReader(syntheticRun(60*time.Second, 50)))))
	if err != nil {
		t.Fatal(err)
	}
	var rows, checks, steps, envs []*html.Node
	chromiumtest.Walk(doc, func(n *html.Node) {
		for _, a := range n.Attr {
			switch {
			case a.Key == "src", a.Key == "href" && !strings.HasPrefix(a.Val, "#"):
				t.Errorf("<%s %s=%q>: the report must not load anything", n.Data, a.Key, a.Val)
			}
		}
		if n.Data == "link" {
			t.Errorf("<link>: the report must be self-contained")
		}
		switch {
		case chromiumtest.Attr(n, "data-row") != "":
			rows = append(rows, n)
		case chromiumtest.HasClass(n, "check"):
			checks = append(checks, n)
		case chromiumtest.HasClass(n, "step-row"):
			steps = append(steps, n)
		case chromiumtest.Attr(n, "data-key") != "":
			envs = append(envs, n)
		}
	})
	byKind := map[string][]*html.Node{}
	for _, r := range rows {
		byKind[chromiumtest.Attr(r, "data-row")] = append(byKind[chromiumtest.Attr(r, "data-row")], r)
	}
	var members []string
	for _, r := range byKind["member"] {
		members = append(members, label(r))
	}
	if got := strings.Join(members, " "); got != "pg1 pg2 pg3" {
		t.Errorf("member rows %q, want pg1 pg2 pg3", got)
	}
	pg1 := byKind["member"][0]
	for _, want := range []string{"leader", "absent", "replica", "offline (kill)"} {
		if !strings.Contains(chromiumtest.Text(pg1), want) {
			t.Errorf("pg1's row does not say %q: %q", want, chromiumtest.Text(pg1))
		}
	}
	if s := titles(pg1); !strings.Contains(s, "pg1: no answer from 12:00:12.003 (+12.003 s) to 12:00:12.503 (+12.503 s), 0.500 s") {
		t.Errorf("pg1's row has no title for the sample without an answer: %q", s)
	}
	if !strings.Contains(chromiumtest.Text(byKind["member"][1]), "partitioned") {
		t.Errorf("pg2 (the partition's smaller side) is not marked partitioned: %q", chromiumtest.Text(byKind["member"][1]))
	}
	if strings.Contains(chromiumtest.Text(byKind["member"][0]), "partitioned") {
		t.Errorf("pg1 (the partition's larger side) is marked partitioned")
	}
	if n := len(byKind["fault"]); n != 2 {
		t.Errorf("%d fault rows, want 2", n)
	} else if s := titles(byKind["fault"][0]); !strings.Contains(s, "from 12:00:04.970 (+4.970 s) to 12:00:20.000 (+20.000 s), 15.030 s, from drill's request to the undo; undone by the step") {
		t.Errorf("the kill's window: %q", s)
	}
	writes := byKind["writes"]
	if len(writes) != 1 || !strings.Contains(chromiumtest.Text(writes[0]), "longest gap 10.050 s") {
		t.Errorf("no writer row with the longest gap marked: %d rows", len(writes))
	} else {
		for _, cls := range []string{"w-ack", "w-fail", "w-ind", "gap"} {
			if !containsClass(writes[0], cls) {
				t.Errorf("the writer row has no %s mark", cls)
			}
		}
		if s := titles(writes[0]); !strings.Contains(s, "12:00:05.000–12:00:05.100 (+5.000 s): 0 acknowledged, 0 failed, 3 indeterminate") {
			t.Errorf("no title for the bucket of the indeterminate writes in %.300q", s)
		}
	}
	reads := byKind["reads"]
	if len(reads) != 1 || label(reads[0]) != "reads: route_reads" || !strings.Contains(chromiumtest.Text(reads[0]), "longest outage 0.620 s") {
		t.Errorf("no reader row with its longest outage marked: %d rows", len(reads))
	} else {
		for _, cls := range []string{"rd-ok", "rd-fail", "gap", "gap-area"} {
			if !containsClass(reads[0], cls) {
				t.Errorf("the reader row has no %s mark", cls)
			}
		}
		s := titles(reads[0])
		for _, want := range []string{
			"12:00:05.000–12:00:05.100 (+5.000 s): 0 reads ok, 4 failed, through replica_route",
			"12:00:05.600–12:00:05.700 (+5.600 s): 20 reads ok, 1 failed, through replica_route",
			"longest read outage: 0.620 s, from 12:00:05.020 (+5.020 s) to 12:00:05.640 (+5.640 s), 0.620 s",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("the reader row has no title %q in %.300q", want, s)
			}
		}
		if got := chromiumtest.Text(reads[0]); !strings.Contains(got, "▲ ok, ▼ failed") {
			t.Errorf("the reader row does not say which way is which without colour: %q", got)
		}
	}
	if s := chromiumtest.Text(byKind["patroni"][0]); !strings.Contains(s, "leader at start: pg1") || !strings.Contains(s, "leader pg2") || !strings.Contains(s, "timeline 2") {
		t.Errorf("Patroni events: %q", s)
	}
	for _, m := range []string{"kill.fault_at", "failover.leader_seen_at", "failover.promoted_at", "writes.ack_gap_ended_at"} {
		if !strings.Contains(chromiumtest.Text(byKind["moments"][0]), m) {
			t.Errorf("the moments row lacks %s", m)
		}
	}
	if !strings.Contains(chromiumtest.Text(byKind["split-brain"][0]), "2 primaries") {
		t.Errorf("the split-brain overlap is not marked")
	}
	if len(byKind["probe"]) != 2 || len(byKind["lag"]) != 1 {
		t.Errorf("%d probe rows (want 2), %d lag rows (want 1)", len(byKind["probe"]), len(byKind["lag"]))
	}
	// every drawn mark carries its title
	for _, r := range rows {
		chromiumtest.Walk(r, func(n *html.Node) {
			if (n.Data == "rect" || n.Data == "circle" || n.Data == "path") && !chromiumtest.HasClass(n, "row-bg") && !chromiumtest.HasClass(n, "baseline") {
				if n.FirstChild == nil || n.FirstChild.Data != "title" {
					t.Errorf("a <%s class=%q> in row %s has no <title>", n.Data, chromiumtest.Attr(n, "class"), chromiumtest.Attr(r, "data-row"))
				}
			}
		})
	}
	if len(checks) != 2 || chromiumtest.Attr(checks[1], "data-status") != "failed" || !strings.Contains(chromiumtest.Text(checks[1]), "writes.lost_writes == 0") || !strings.Contains(chromiumtest.Text(checks[1]), "writes.lost_writes = 3") {
		t.Errorf("checks: %d rows; the second: %q", len(checks), chromiumtest.Text(checks[len(checks)-1]))
	}
	if len(steps) != 6 || !strings.Contains(chromiumtest.Text(steps[5]), "the old leader rejoins <quickly>") || !strings.Contains(chromiumtest.Text(steps[5]), `lag 2 MB > 1 MB`) {
		t.Errorf("steps: %d rows", len(steps))
	}
	env := map[string]string{}
	for _, e := range envs {
		env[chromiumtest.Attr(e, "data-key")] = chromiumtest.Text(e)
	}
	if !strings.Contains(env["maximum_lag_on_failover"], "not read") || !strings.Contains(env["ttl"], "10") || !strings.Contains(env["drill"], "0123abc") {
		t.Errorf("fingerprint: %q", env)
	}
}

// TestReaderLane: a reader's lane and its legend are drawn when the
// journal has its buckets and only then; an outage still open at the end
// is marked as such, and a reader that made no read says so.
func TestReaderLane(t *testing.T) {
	t.Parallel()
	rows := func(page []byte) map[string][]*html.Node {
		doc, err := html.Parse(bytes.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]*html.Node{}
		chromiumtest.Walk(doc, func(n *html.Node) {
			if r := chromiumtest.Attr(n, "data-row"); r != "" {
				out[r] = append(out[r], n)
			}
		})
		return out
	}
	without := render(t, syntheticRun(30*time.Second, 50))
	if n := len(rows(without)["reads"]); n != 0 {
		t.Errorf("%d reader rows for a journal without reader buckets", n)
	}
	for _, legend := range []string{"successful reads", "failed reads"} {
		if bytes.Contains(without, []byte(legend)) {
			t.Errorf("the legend says %q although no reader ran", legend)
		}
	}

	run := withReader(syntheticRun(30*time.Second, 50))
	tl := run.Scenarios[0].Timeline
	open := tl.Reads[0]
	open.Reader, open.Outage = "stuck", &timeline.Outage{Start: at(17 * time.Second), End: at(19 * time.Second), Open: true}
	tl.Reads = append(tl.Reads, open, timeline.Reads{Reader: "idle", BucketMS: 100})
	page := render(t, run)
	got := rows(page)["reads"]
	if len(got) != 3 {
		t.Fatalf("%d reader rows, want 3", len(got))
	}
	if s := chromiumtest.Text(got[1]); !strings.Contains(s, "reads failing at the end") || strings.Contains(s, "longest outage") {
		t.Errorf("the open outage is not marked as open: %q", s)
	}
	if s := titles(got[1]); !strings.Contains(s, "reads still failing when the reader stopped: from 12:00:17.000 (+17.000 s) to 12:00:19.000 (+19.000 s), 2.000 s") {
		t.Errorf("the open outage's title: %.300q", s)
	}
	if s := chromiumtest.Text(got[2]); !strings.Contains(s, "the reader made no read") {
		t.Errorf("a reader without reads: %q", s)
	}
	for _, legend := range []string{"successful reads", "failed reads"} {
		if !bytes.Contains(page, []byte(legend)) {
			t.Errorf("the legend lacks %q", legend)
		}
	}
}

// TestOldJournal: a journal without the timeline and fingerprint renders,
// and says what was not recorded instead of drawing zeros.
func TestOldJournal(t *testing.T) {
	t.Parallel()
	run := syntheticRun(30*time.Second, 50)
	run.Drill = ""
	s := run.Scenarios[0]
	s.Timeline, s.Environment = nil, nil
	out := string(render(t, run))
	for _, want := range []string{"not recorded: no writer ran", "not recorded: no role samples", "not recorded in this journal"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report does not say %q", want)
		}
	}
}

// TestSize: the report of a 10-minute run with a writer at 200 writes/s
// stays under 2 MB (issue 15). BenchmarkRenderHTML measures its time.
func TestSize(t *testing.T) {
	t.Parallel()
	n := len(render(t, syntheticRun(10*time.Minute, 200)))
	t.Logf("10-minute run, writer at 200/s: %d bytes", n)
	if n >= 2<<20 {
		t.Errorf("the report is %d bytes, want < 2 MB", n)
	}
}

// BenchmarkRenderHTML renders a 10-minute run with a writer at 200
// writes/s, from the run in memory (drill run --html) and from its JSON
// journal (drill report, decoding included):
// go test ./internal/app/htmlreport -bench RenderHTML -run ^$
func BenchmarkRenderHTML(b *testing.B) {
	run := syntheticRun(10*time.Minute, 200)
	var journal bytes.Buffer
	if err := report.WriteJSON(&journal, run, nil); err != nil {
		b.Fatal(err)
	}
	bench := func(b *testing.B, get func() *report.Run) {
		var size int
		for b.Loop() {
			var buf bytes.Buffer
			if err := Write(&buf, get(), nil, Options{}); err != nil {
				b.Fatal(err)
			}
			size = buf.Len()
		}
		b.ReportMetric(float64(size), "bytes/report")
	}
	b.Run("run", func(b *testing.B) { bench(b, func() *report.Run { return run }) })
	b.Run("journal", func(b *testing.B) {
		bench(b, func() *report.Run {
			r, err := report.ReadJSON(bytes.NewReader(journal.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			return r
		})
		b.ReportMetric(float64(journal.Len()), "bytes/journal")
	})
}

func containsClass(n *html.Node, cls string) bool {
	found := false
	chromiumtest.Walk(n, func(c *html.Node) { found = found || chromiumtest.HasClass(c, cls) })
	return found
}

// titles joins the <title> texts under n.
func titles(n *html.Node) string {
	var parts []string
	chromiumtest.Walk(n, func(c *html.Node) {
		if c.Type == html.ElementNode && c.Data == "title" && c.FirstChild != nil {
			parts = append(parts, c.FirstChild.Data)
		}
	})
	return strings.Join(parts, " | ")
}

// label is a row's label.
func label(r *html.Node) string {
	out := ""
	chromiumtest.Walk(r, func(c *html.Node) {
		if out == "" && chromiumtest.HasClass(c, "row-label") && c.FirstChild != nil {
			out = c.FirstChild.Data
		}
	})
	return out
}

// TestGoldenJournals renders journals of real runs on the test bed
// (testdata/*.json: drill run scenarios/leader-kill.yaml and
// split-brain.yaml --json, fast profile) through drill report's path, and
// checks the page against each journal as scripts/htmlcheck does in
// Chromium: a section per scenario, a row per check, step, member, fault
// and writer.
func TestGoldenJournals(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"leader-kill", "split-brain"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile("testdata/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			run, err := report.ReadJSON(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			page := render(t, run)
			golden.Check(t, "testdata/"+name+".html", page)
			// what the page's script adds when a browser runs it
			ran := bytes.Replace(page, []byte(`<html lang="en">`), []byte(`<html lang="en" data-js="ready">`), 1)
			if err := chromiumtest.Check(ran, run); err != nil {
				t.Errorf("the page does not show the journal: %v", err)
			}
		})
	}
}
