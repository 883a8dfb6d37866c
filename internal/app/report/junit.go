package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/metric"
)

// The JUnit XML written here validates against the Apache Ant schema
// (testdata/JUnit.xsd): one <testsuite> per scenario, one <testcase> per
// step, undo and check, metrics as <properties>, step logs in <system-out>.
// A scenario run several times (--repeat) or once per matrix combination
// gives one suite per run, named with its label ("leader-kill [sync=on]
// (run 2 of 3)"), so that no two test cases share a suite and a name: CI
// readers (Jenkins, GitLab) key cases by suite, class and name and would
// merge or drop repeated ones. Each series then adds a suite of its checks
// over the runs, with the distributions as properties.

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Package    string          `xml:"package,attr"`
	ID         int             `xml:"id,attr"`
	Name       string          `xml:"name,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties junitProperties `xml:"properties"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  junitText       `xml:"system-out"`
	SystemErr  junitText       `xml:"system-err"`
}

// junitProperties is a struct, not a path tag, so that an empty
// <properties/> is still written: the schema requires it.
type junitProperties struct {
	Items []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// junitText is element text written as CDATA, so logs stay readable.
type junitText struct {
	Text string `xml:",cdata"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Failure   *junitMessage `xml:"failure,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",cdata"`
}

// maxSystemOut caps a suite's <system-out>.
const maxSystemOut = 256 << 10

// WriteJUnit writes run as JUnit XML, with secrets masked before it is
// encoded.
func WriteJUnit(w io.Writer, run *Run, m *Masker) error {
	run = Masked(m, run)
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	doc := junitSuites{}
	for i, s := range run.Scenarios {
		doc.Suites = append(doc.Suites, junitSuiteOf(i, s, host, run.HTML, m))
	}
	for i, s := range run.Series {
		doc.Suites = append(doc.Suites, junitSeriesSuite(len(run.Scenarios)+i, s, host, m))
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// HTMLProperty is the suite property that names the run's HTML report.
const HTMLProperty = "drill.html"

func junitSuiteOf(id int, s *Scenario, host, html string, m *Masker) junitSuite {
	suite := junitSuite{
		Package:   "drill",
		ID:        id,
		Name:      token(s.Label()),
		Timestamp: s.Started.UTC().Format("2006-01-02T15:04:05"),
		Hostname:  host,
		Time:      seconds(s.Finished.Sub(s.Started)),
	}
	class := token("drill." + s.Label())
	add := suite.add
	var out strings.Builder
	if s.Error != "" {
		add(junitCase{Name: "requires", Classname: class, Time: seconds(0), Error: &junitMessage{Type: "RequiresError", Message: clean(m.Mask(s.Error))}})
	}
	for i, st := range append(append([]*Step(nil), s.Steps...), s.Cleanup...) {
		name := fmt.Sprintf("step %d: %s (%s)", i+1, st.Name, st.Kind)
		if st.Phase == "cleanup" {
			name = fmt.Sprintf("cleanup: %s (%s)", st.Name, st.Kind)
		}
		c := junitCase{Name: token(m.Mask(name)), Classname: class, Time: seconds(st.Duration)}
		msg := m.Mask(st.Message)
		if !strings.Contains(msg, st.Pos.String()) {
			msg = m.Mask(st.Pos.String() + ": " + st.Message)
		}
		switch st.Status {
		case Error:
			c.Error = &junitMessage{Type: "StepError", Message: clean(msg), Body: clean(m.Mask(tail(st.Log, 4096)))}
		case Failed:
			c.Failure = &junitMessage{Type: "CheckFailed", Message: clean(msg), Body: clean(m.Mask(tail(st.Log, 4096)))}
		case Skipped:
			c.Skipped = &junitMessage{Message: clean(m.Mask(st.Message))}
		}
		add(c)
		if st.Log != "" || st.Status == Ignored {
			fmt.Fprintf(&out, "=== %s [%s] %s\n", name, st.Status, m.Mask(st.Message))
			out.WriteString(m.Mask(st.Log))
			if !strings.HasSuffix(st.Log, "\n") && st.Log != "" {
				out.WriteString("\n")
			}
		}
	}
	for _, u := range s.Undo {
		c := junitCase{Name: token("undo: " + m.Mask(u.Fault)), Classname: class, Time: seconds(0)}
		switch u.Status {
		case Error:
			c.Error = &junitMessage{Type: "UndoError", Message: clean(m.Mask(u.Message))}
		case Skipped:
			c.Skipped = &junitMessage{Message: clean(m.Mask(u.Message))}
		}
		add(c)
	}
	for _, ch := range s.Checks {
		add(junitCheck(ch, class, m))
	}
	for _, p := range latestProperties(s.Metrics) {
		suite.Properties.Items = append(suite.Properties.Items, junitProperty{Name: token(p.name), Value: clean(m.Mask(p.value))})
	}
	if html != "" {
		// The property for people and scripts; the attachment line for the
		// CI plugins that read it from system-out (Jenkins' JUnit
		// attachments, GitLab), after the step logs: a long system-out is cut from its start.
		suite.Properties.Items = append(suite.Properties.Items, junitProperty{Name: HTMLProperty, Value: clean(html)})
		out.WriteString("[[ATTACHMENT|" + clean(html) + "]]\n")
	}
	if s.Aborted != "" {
		fmt.Fprintf(&out, "=== aborted: %s\n", m.Mask(s.Aborted))
	}
	if s.Skipped != "" {
		fmt.Fprintf(&out, "=== skipped: %s\n", m.Mask(s.Skipped))
	}
	suite.SystemOut.Text = clean(tail(out.String(), maxSystemOut))
	return suite
}

// add adds a test case and counts it.
func (suite *junitSuite) add(c junitCase) {
	suite.Tests++
	switch {
	case c.Failure != nil:
		suite.Failures++
	case c.Error != nil:
		suite.Errors++
	case c.Skipped != nil:
		suite.Skipped++
	}
	suite.Cases = append(suite.Cases, c)
}

// junitCheck is the test case of a check.
func junitCheck(ch *Check, class string, m *Masker) junitCase {
	c := junitCase{Name: token("check: " + m.Mask(ch.Name)), Classname: class, Time: seconds(0)}
	msg := clean(m.Mask(ch.Pos.String() + ": " + ch.Message))
	switch ch.Status {
	case Failed:
		c.Failure = &junitMessage{Type: "CheckFailed", Message: msg}
	case Error:
		c.Error = &junitMessage{Type: "CheckError", Message: msg}
	case Skipped:
		c.Skipped = &junitMessage{Message: clean(m.Mask(ch.Message))}
	}
	return c
}

// junitSeriesSuite is the suite of a series: a test case per check over
// the runs; as properties, how many runs were made and passed (each run's
// failures are in its own suite, not counted again) and every distribution
// (name.min, name.median, name.p95, name.max, name.mean, name.count).
func junitSeriesSuite(id int, s *Series, host string, m *Masker) junitSuite {
	suite := junitSuite{Package: "drill", ID: id, Name: token(m.Mask(s.Label())), Hostname: host,
		Timestamp: s.Started.UTC().Format("2006-01-02T15:04:05"), Time: seconds(s.Finished.Sub(s.Started))}
	class := token("drill." + m.Mask(s.Label()))
	suite.Properties.Items = append(suite.Properties.Items, junitProperty{Name: "runs", Value: fmt.Sprint(s.Runs)}, junitProperty{Name: "runs_passed", Value: fmt.Sprint(s.Passed)})
	for _, ch := range s.Checks {
		suite.add(junitCheck(ch, class, m))
	}
	for _, st := range s.Stats {
		for _, stat := range []string{"min", "median", "p95", "max", "mean", "count"} {
			v, _ := st.Of(stat)
			suite.Properties.Items = append(suite.Properties.Items, junitProperty{Name: token(m.Mask(st.Name + "." + stat)), Value: metric.FormatNumber(v)})
		}
	}
	return suite
}

type property struct{ name, value string }

// latestProperties turns recorded samples into properties: the latest value
// of each name, then each step's own values as step.name.
func latestProperties(samples []metric.Sample) []property {
	latest := map[string]metric.Sample{}
	byStep := map[string]metric.Sample{}
	var names, stepNames []string
	for _, s := range samples {
		if _, seen := latest[s.Name]; !seen {
			names = append(names, s.Name)
		}
		latest[s.Name] = s
		if s.Step != "" {
			key := s.Step + "." + s.Name
			if _, seen := byStep[key]; !seen {
				stepNames = append(stepNames, key)
			}
			byStep[key] = s
		}
	}
	var out []property
	for _, n := range names {
		out = append(out, property{n, propertyValue(latest[n].Value)})
	}
	for _, n := range stepNames {
		out = append(out, property{n, propertyValue(byStep[n].Value)})
	}
	return out
}

func propertyValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return metric.Format(v)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]`)

// clean removes ANSI escape codes and the characters XML forbids.
func clean(s string) string {
	s = ansi.ReplaceAllString(s, "")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return -1
		}
		return r
	}, s)
}

// token makes s a valid xs:token: clean, one line, not empty.
func token(s string) string {
	s = strings.Join(strings.Fields(clean(s)), " ")
	if s == "" {
		return "unnamed"
	}
	return s
}

// tail keeps the last n bytes of s, noting the cut.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[... " + fmt.Sprint(len(s)-n) + " bytes cut]\n" + s[len(s)-n:]
}
