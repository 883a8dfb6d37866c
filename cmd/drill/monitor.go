package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/drill-dev/drill/internal/app/clusterview"
	"github.com/drill-dev/drill/internal/app/report"
)

// monitorOptions are `drill monitor`'s own settings.
type monitorOptions struct {
	interval time.Duration
	lagMB    float64
	count    int
	plain    bool
	noColor  bool
}

func newMonitorCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		cf clusterFlags
		mo monitorOptions
	)
	c := &cobra.Command{
		Use:   "monitor",
		Short: "Watch the cluster live, with an event log (leader changes, members OFFLINE, lag, split brain)",
		Long: `monitor shows what 'drill status' shows, refreshed in place every --interval,
and keeps a log of events under it, each with its time:

  leader changed A → B (or lost, or elected), a member went OFFLINE (with the
  reason) or came back, the timeline changed, a replica's lag crossed --lag-mb,
  two or more members answered pg_is_in_recovery() = false (split brain).

The table always shows what the last refresh saw. A member whose calls only
ran out of time (nothing refused them, its container runs) enters the event
log at the second such refresh in a row: on a loaded machine one slow answer
is not an outage. Raise --call-timeout there.

The header shows how long ago the leader last changed (seen by monitor, or
Patroni's last promotion in GET /history, whichever is newer).

Press q or Ctrl-C to quit; the terminal is restored and the event log is
printed. When stdout is not a terminal (or with --plain), monitor prints one
block per refresh followed by the new events, with no escape codes, until
interrupted or --count refreshes. It exits 0 either way.

monitor finds the cluster as 'drill status' does, so it can run beside
'drill run' with the same --scenario.`,
		Example: `  drill monitor
  drill monitor --scenario scenarios/leader-stop.yaml --interval 1s
  drill monitor --plain --count 5 > monitor.log`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if mo.interval <= 0 {
				return exitWith(report.ExitInvalid, fmt.Errorf("--interval must be positive, not %s", mo.interval))
			}
			if mo.lagMB <= 0 {
				return exitWith(report.ExitInvalid, fmt.Errorf("--lag-mb must be positive, not %g", mo.lagMB))
			}
			tui := isTerminal(stdout) && !mo.plain
			// On the full screen a log line on the terminal would tear it up.
			logTo := stderr
			if tui && isTerminal(stderr) {
				logTo = io.Discard
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			w, err := cf.open(ctx, newLogger(logTo, cf.verbose, "text", nil))
			if err != nil {
				return err
			}
			defer w.close()
			m := &monitor{
				viewer:   w.viewer,
				tracker:  clusterview.NewTracker(clusterview.DiffOptions{LagThreshold: int64(mo.lagMB * clusterview.MiB)}),
				interval: mo.interval,
				styles:   newStyles(tui && !mo.noColor && os.Getenv("NO_COLOR") == ""),
			}
			if !tui {
				return m.runPlain(ctx, stdout, mo.count)
			}
			return m.runTUI(ctx, c.InOrStdin(), stdout)
		},
	}
	cf.register(c)
	f := c.Flags()
	f.DurationVar(&mo.interval, "interval", 2*time.Second, "time between two refreshes")
	f.Float64Var(&mo.lagMB, "lag-mb", 1, "lag, in MB (MiB), whose crossing is an event")
	f.IntVar(&mo.count, "count", 0, "stop after this many refreshes (0: until q or Ctrl-C)")
	f.BoolVar(&mo.plain, "plain", false, "print one block per refresh instead of redrawing, also on a terminal")
	f.BoolVar(&mo.noColor, "no-color", false, "no colour, also on a terminal (as NO_COLOR does)")
	return c
}

// monitor is the state both ways of showing share.
type monitor struct {
	viewer   *clusterview.Viewer
	tracker  *clusterview.Tracker
	interval time.Duration
	styles   styles
	events   []clusterview.Event
}

// observe records a snapshot and returns its new events.
func (m *monitor) observe(s clusterview.Snapshot) []clusterview.Event {
	ev := m.tracker.Observe(s)
	m.events = append(m.events, ev...)
	return ev
}

// sinceLeaderChange says how long ago the leader last changed.
func (m *monitor) sinceLeaderChange(now time.Time) string {
	at := m.tracker.LastLeaderChange()
	if at.IsZero() {
		return "no leader change seen"
	}
	return "last leader change " + now.Sub(at).Truncate(time.Second).String() + " ago (" + at.Local().Format("15:04:05") + ")"
}

func formatEvent(e clusterview.Event) string {
	return e.Time.Local().Format("15:04:05") + "  " + e.Message
}

// runPlain prints one block per refresh, then the new events, until ctx
// ends or count blocks were printed.
func (m *monitor) runPlain(ctx context.Context, w io.Writer, count int) error {
	for n := 1; ; n++ {
		s := m.viewer.Snapshot(ctx)
		if ctx.Err() != nil {
			return nil
		}
		ev := m.observe(s)
		fmt.Fprintf(w, "=== drill monitor %s · %s\n", s.Time.Format("2006-01-02 15:04:05"), m.sinceLeaderChange(s.Time))
		fmt.Fprint(w, formatSnapshot(s, m.styles, m.viewer.Timeout()))
		if len(ev) > 0 {
			fmt.Fprintln(w, "\nEvents:")
			for _, e := range ev {
				fmt.Fprintln(w, "  "+formatEvent(e))
			}
		}
		fmt.Fprintln(w)
		if count > 0 && n >= count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(0, m.interval-s.Took)):
		}
	}
}

// runTUI redraws the screen in place (alternate screen) until q or Ctrl-C,
// then prints the event log on the restored terminal.
func (m *monitor) runTUI(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := tea.NewProgram(&screen{monitor: m, ctx: ctx, now: time.Now()},
		tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	_, err := p.Run()
	cancel()
	if err != nil && !errors.Is(err, tea.ErrInterrupted) && !errors.Is(err, tea.ErrProgramKilled) {
		return exitWith(report.ExitError, fmt.Errorf("drill monitor: %w", err))
	}
	fmt.Fprintf(out, "drill monitor: %s\n", plural(len(m.events), "event"))
	for _, e := range m.events {
		fmt.Fprintln(out, "  "+formatEvent(e))
	}
	return nil
}

// screen is the bubbletea model of the full-screen monitor.
type screen struct {
	*monitor
	ctx           context.Context
	snap          *clusterview.Snapshot
	now           time.Time
	width, height int
}

type (
	snapshotMsg clusterview.Snapshot
	refreshMsg  struct{}
	clockMsg    time.Time
)

// fetch takes a snapshot off the UI goroutine.
func (s *screen) fetch() tea.Cmd {
	return func() tea.Msg { return snapshotMsg(s.viewer.Snapshot(s.ctx)) }
}

func clock() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return clockMsg(t) })
}

func (s *screen) Init() tea.Cmd { return tea.Batch(s.fetch(), clock()) }

func (s *screen) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "Q", "ctrl+c", "esc":
			return s, tea.Quit
		}
	case tea.WindowSizeMsg:
		s.width, s.height = msg.Width, msg.Height
	case snapshotMsg:
		snap := clusterview.Snapshot(msg)
		s.observe(snap)
		s.snap, s.now = &snap, time.Now()
		// The next refresh starts one interval after this one started.
		return s, tea.Tick(max(time.Millisecond, s.interval-snap.Took), func(time.Time) tea.Msg { return refreshMsg{} })
	case refreshMsg:
		return s, s.fetch()
	case clockMsg:
		s.now = time.Time(msg)
		return s, clock()
	}
	return s, nil
}

// View draws the header, the snapshot, then as many of the newest events
// as fit the terminal's height above the footer. Lines wider than the
// terminal are cut by bubbletea; a screen too short for the snapshot loses
// its bottom rows first.
func (s *screen) View() string {
	var top strings.Builder
	top.WriteString(s.styles.head.Render("drill monitor") + "   " + s.now.Format("2006-01-02 15:04:05") + "   " + s.sinceLeaderChange(s.now) + "\n\n")
	if s.snap == nil {
		top.WriteString("taking the first snapshot...\n")
	} else {
		top.WriteString(formatSnapshot(*s.snap, s.styles, s.viewer.Timeout()))
	}
	lines := strings.Split(strings.TrimSuffix(top.String(), "\n"), "\n")
	lines = append(lines, "", s.styles.head.Render("Events"))
	footer := []string{"", s.styles.dim.Render(fmt.Sprintf("q or Ctrl-C quits · refresh every %s", s.interval))}

	room := len(s.events) + 1
	if s.height > 0 {
		room = s.height - len(lines) - len(footer)
		if room < 1 {
			lines = lines[:max(0, s.height-len(footer)-1)]
			room = 1
		}
	}
	lines = append(lines, eventLines(s.events, room, s.styles)...)
	return strings.Join(append(lines, footer...), "\n")
}

// eventLines renders the newest events in at most room lines, saying how
// many earlier ones are not shown.
func eventLines(events []clusterview.Event, room int, st styles) []string {
	if len(events) == 0 {
		return []string{st.dim.Render("  none yet")}
	}
	var out []string
	if len(events) > room {
		hidden := len(events) - room + 1
		out = append(out, st.dim.Render(fmt.Sprintf("  (%d earlier)", hidden)))
		events = events[hidden:]
	}
	for _, e := range events {
		out = append(out, "  "+formatEvent(e))
	}
	return out
}
