package signal_test

import (
	"testing"

	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/signal"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want signal.Signal
		name string
	}{
		{"SIGKILL", 9, "SIGKILL"}, {"kill", 9, "SIGKILL"}, {"9", 9, "SIGKILL"}, {" term ", 15, "SIGTERM"},
		{"SigInt", 2, "SIGINT"}, {"HUP", 1, "SIGHUP"}, {"usr1", 10, "SIGUSR1"}, {"SIGSTOP", 19, "SIGSTOP"},
		{"IOT", 6, "SIGABRT"}, {"SIGRTMIN", 34, "SIGRTMIN"}, {"RTMIN+3", 37, "SIGRTMIN+3"}, {"64", 64, "SIGRTMIN+30"},
	} {
		got, err := signal.Parse(c.in)
		if err != nil || got != c.want || got.String() != c.name {
			t.Errorf("Parse(%q) = %d (%s), %v; want %d (%s)", c.in, got, got, err, c.want, c.name)
		}
	}
	for in, want := range map[string]string{
		"":            "empty signal: give a name like SIGKILL or SIGTERM, or a number",
		"SIGKIL":      `unknown signal "SIGKIL": use a name like SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGUSR1 or a number from 1 to 64`,
		"0":           "signal 0 out of range: Linux signals are 1 to 64",
		"65":          "signal 65 out of range: Linux signals are 1 to 64",
		"RTMIN-1":     `unknown signal "RTMIN-1": use a name like SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGUSR1 or a number from 1 to 64`,
		"SIGRTMIN+31": `unknown signal "SIGRTMIN+31": use a name like SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGUSR1 or a number from 1 to 64`,
	} {
		_, err := signal.Parse(in)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]docker.Target{
		"postgres-master": {Service: "postgres-master"},
		"worker#2":        {Service: "worker", Number: 2},
	} {
		got, err := docker.ParseTarget(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseTarget(%q) = %+v, %v", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"":         `empty service name in target ""`,
		"#2":       `empty service name in target "#2"`,
		"worker#0": `bad container number in target "worker#0": want service#N with N >= 1`,
		"worker#x": `bad container number in target "worker#x": want service#N with N >= 1`,
	} {
		_, err := docker.ParseTarget(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseTarget(%q) error = %v, want %q", in, err, want)
		}
	}
}
