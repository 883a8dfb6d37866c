// Package chromiumtest loads drill's HTML reports in headless Chromium
// (Debian's chromium package) and checks what is on the page against the
// run they were rendered from: a section per scenario, a row per check and
// per step, a role row per member the journal sampled, a row per fault
// window, per writer and per reader (none without one), the fingerprint,
// and that the page's script ran.
// scripts/htmlcheck runs it on the reports of the end-to-end stage; Check
// also works on the renderer's own output, so it is tested without a
// browser.
package chromiumtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/html"

	"github.com/drill-dev/drill/internal/app/report"
)

// Binary finds Chromium: $DRILL_CHROMIUM, else chromium or chromium-browser
// on PATH.
func Binary() (string, error) {
	if b := os.Getenv("DRILL_CHROMIUM"); b != "" {
		return b, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH: apt-get install chromium (or set DRILL_CHROMIUM)")
}

// run runs headless Chromium on the file at path with extra flags and
// returns its stdout.
func run(ctx context.Context, bin, path string, flags ...string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "drill-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--disable-extensions", "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + profile}, flags...)
	args = append(args, "file://"+abs)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(flags, " "), err, tailLines(stderr.String(), 10))
	}
	return stdout.Bytes(), nil
}

// DumpDOM loads the page and returns its DOM after its scripts ran.
func DumpDOM(ctx context.Context, bin, path string) ([]byte, error) {
	return run(ctx, bin, path, "--dump-dom")
}

// Screenshot writes a PNG of the page, width by height CSS pixels.
func Screenshot(ctx context.Context, bin, path, png string, width, height int) error {
	_, err := run(ctx, bin, path, fmt.Sprintf("--window-size=%d,%d", width, height), "--screenshot="+png)
	if err == nil {
		_, err = os.Stat(png)
	}
	return err
}

// PrintPDF prints the page with its print stylesheet (A4) to pdf.
func PrintPDF(ctx context.Context, bin, path, pdf string) error {
	_, err := run(ctx, bin, path, "--no-pdf-header-footer", "--print-to-pdf="+pdf)
	if err == nil {
		_, err = os.Stat(pdf)
	}
	return err
}

// PageHeight estimates the page's height in CSS pixels at width 1400 from
// its DOM, so that a screenshot shows all of it.
func PageHeight(dom []byte) int {
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		return 2000
	}
	h := 400.0
	var rec func(n *html.Node)
	rec = func(n *html.Node) {
		switch {
		case n.Data == "details":
			h += 30 // closed in the screenshot
			return
		case n.Data == "tr":
			h += 48
		case n.Data == "svg" && Attr(n, "role") == "img":
			if f := strings.Fields(Attr(n, "viewBox")); len(f) == 4 {
				vh, _ := strconv.ParseFloat(f[3], 64)
				h += vh*1350/1100 + 160
			}
		case n.Data == "section":
			h += 200
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(doc)
	return int(h)
}

// Check compares the page with the run it was rendered from and returns
// every difference found (nil when none).
func Check(dom []byte, run *report.Run) error {
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		return fmt.Errorf("parsing the page: %w", err)
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var sections []*html.Node
	root := find(doc, func(n *html.Node) bool { return n.Data == "html" })
	if root == nil || Attr(root, "data-js") != "ready" {
		fail("the page's script did not run (no data-js=ready on <html>)")
	}
	Walk(doc, func(n *html.Node) {
		if n.Data == "section" && HasClass(n, "scenario") {
			sections = append(sections, n)
		}
		for _, a := range n.Attr {
			if a.Key == "src" || (a.Key == "href" && !strings.HasPrefix(a.Val, "#")) {
				fail("<%s %s=%q>: the report must load nothing", n.Data, a.Key, a.Val)
			}
		}
	})
	if len(sections) != len(run.Scenarios) {
		return errors.Join(append(errs, fmt.Errorf("%d scenario sections, the run has %d scenarios", len(sections), len(run.Scenarios)))...)
	}
	for i, s := range run.Scenarios {
		if err := checkScenario(sections[i], s); err != nil {
			errs = append(errs, fmt.Errorf("scenario %q: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

func checkScenario(sec *html.Node, s *report.Scenario) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if got := Attr(sec, "data-scenario"); got != s.Name {
		fail("section for %q", got)
	}
	checks := findAll(sec, func(n *html.Node) bool { return n.Data == "tr" && HasClass(n, "check") })
	if len(checks) != len(s.Checks) {
		fail("%d check rows, the journal has %d checks", len(checks), len(s.Checks))
	} else {
		for j, c := range s.Checks {
			row := Text(checks[j])
			if Attr(checks[j], "data-status") != string(c.Status) || !strings.Contains(row, strings.Join(strings.Fields(c.Name), " ")) {
				fail("check row %d is %q (%s), want %q (%s)", j+1, row, Attr(checks[j], "data-status"), c.Name, c.Status)
			}
		}
	}
	steps := findAll(sec, func(n *html.Node) bool { return n.Data == "tr" && HasClass(n, "step-row") })
	if want := len(s.Steps) + len(s.Cleanup); len(steps) != want {
		fail("%d step rows, the journal has %d steps", len(steps), want)
	}
	env := findAll(sec, func(n *html.Node) bool { return n.Data == "tr" && Attr(n, "data-key") != "" })
	if want := len(report.EnvironmentKeys) + 1; len(env) != want {
		fail("%d fingerprint rows, want %d", len(env), want)
	}
	if s.Skipped != "" || s.Error != "" {
		return errors.Join(errs...)
	}
	rows := map[string][]string{}
	for _, r := range findAll(sec, func(n *html.Node) bool { return Attr(n, "data-row") != "" }) {
		rows[Attr(r, "data-row")] = append(rows[Attr(r, "data-row")], rowLabel(r))
	}
	if len(rows["axis"]) != 1 || len(rows["steps"]) != 1 || len(rows["moments"]) != 1 {
		fail("the timeline lacks its axis, steps or moments row: %v", rows)
	}
	faults := 0
	for _, e := range s.Events {
		if e.Type == "fault" {
			faults++
		}
	}
	if faults > 0 && len(rows["fault"]) != faults {
		fail("%d fault rows, the journal has %d faults", len(rows["fault"]), faults)
	}
	readers := 0
	if s.Timeline != nil {
		readers = len(s.Timeline.Reads)
	}
	if len(rows["reads"]) != readers {
		fail("%d reader rows, the journal has %d readers", len(rows["reads"]), readers)
	}
	if tl := s.Timeline; tl != nil {
		if tl.Roles != nil {
			var members []string
			for _, c := range tl.Roles.Changes {
				for _, m := range c.Members {
					if !slices.Contains(members, m.Name) {
						members = append(members, m.Name)
					}
				}
			}
			for _, m := range members {
				if !slices.Contains(rows["member"], m) {
					fail("no role row for member %s (rows: %q)", m, rows["member"])
				}
			}
		}
		if len(rows["writes"]) != max(len(tl.Writes), 1) {
			fail("%d writer rows, the journal has %d writers", len(rows["writes"]), len(tl.Writes))
		}
		if len(rows["split-brain"]) != len(tl.Watches) {
			fail("%d split-brain rows, the journal has %d watchers", len(rows["split-brain"]), len(tl.Watches))
		}
	}
	return errors.Join(errs...)
}

// Walk calls f on n and on everything under it, in document order.
func Walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		Walk(c, f)
	}
}

func find(n *html.Node, ok func(*html.Node) bool) *html.Node {
	var out *html.Node
	Walk(n, func(c *html.Node) {
		if out == nil && c.Type == html.ElementNode && ok(c) {
			out = c
		}
	})
	return out
}

func findAll(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	Walk(n, func(c *html.Node) {
		if c.Type == html.ElementNode && ok(c) {
			out = append(out, c)
		}
	})
	return out
}

// Attr is n's attribute key, or "".
func Attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// HasClass reports whether n is an element with class cls.
func HasClass(n *html.Node, cls string) bool {
	return n.Type == html.ElementNode && strings.Contains(" "+Attr(n, "class")+" ", " "+cls+" ")
}

// Text is the visible text under n, without the marks' titles.
func Text(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "title" {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func rowLabel(r *html.Node) string {
	if l := find(r, func(n *html.Node) bool { return HasClass(n, "row-label") }); l != nil {
		return Text(l)
	}
	return ""
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
