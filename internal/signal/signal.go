// Package signal names Linux signals: parsing a name or number as a scenario writes it, and
// printing it back. Members run Linux whatever the host drill runs on, so the table is Linux's.
package signal

import (
	"fmt"
	"strconv"
	"strings"
)

// Signal is a Linux signal number, as sent to a member's processes. Containers run Linux
// whatever the host drill runs on, so the table is Linux's, not the host's.
type Signal int

// SIGKILL is what Kill sends when given the zero Signal.
const SIGKILL Signal = 9

var signalNames = [...]string{
	1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE",
	9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM",
	16: "STKFLT", 17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU",
	23: "URG", 24: "XCPU", 25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO",
	30: "PWR", 31: "SYS",
}

const (
	sigRTMIN = 34
	sigRTMAX = 64
)

// Parse accepts a signal name with or without the SIG prefix, in any case ("SIGKILL",
// "kill", "term"), "RTMIN+n", or a number from 1 to 64. It is meant for load time: the error
// says what was wrong and never touches the engine.
func Parse(s string) (Signal, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("empty signal: give a name like SIGKILL or SIGTERM, or a number")
	}
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > sigRTMAX {
			return 0, fmt.Errorf("signal %s out of range: Linux signals are 1 to %d", s, sigRTMAX)
		}
		return Signal(n), nil
	}
	t = strings.TrimPrefix(t, "SIG")
	switch t {
	case "IOT":
		return 6, nil
	case "POLL":
		return 29, nil
	case "CLD":
		return 17, nil
	}
	for n, name := range signalNames {
		if name != "" && name == t {
			return Signal(n), nil
		}
	}
	if rest, ok := strings.CutPrefix(t, "RTMIN"); ok {
		off := 0
		if rest != "" {
			var err error
			if off, err = strconv.Atoi(strings.TrimPrefix(rest, "+")); err != nil || rest[0] != '+' {
				off = -1
			}
		}
		if off >= 0 && sigRTMIN+off <= sigRTMAX {
			return Signal(sigRTMIN + off), nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q: use a name like SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGUSR1 or a number from 1 to %d", s, sigRTMAX)
}

// String returns "SIGKILL" for 9, "SIGRTMIN+3" for 37, "signal 99" for numbers Linux lacks.
func (s Signal) String() string {
	switch {
	case s > 0 && int(s) < len(signalNames) && signalNames[s] != "":
		return "SIG" + signalNames[s]
	case s == sigRTMIN:
		return "SIGRTMIN"
	case s > sigRTMIN && s <= sigRTMAX:
		return fmt.Sprintf("SIGRTMIN+%d", s-sigRTMIN)
	}
	return fmt.Sprintf("signal %d", int(s))
}
