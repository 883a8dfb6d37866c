// Command results turns drill JSON journals into the Markdown table of
// docs/results.md: what each scenario measured on the test bed.
//
//	go run ./scripts/results -profile fast out/e2e/run.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/drill-dev/drill/internal/metric"
)

type journal struct {
	Started   string `json:"started"`
	Scenarios []struct {
		Name    string `json:"name"`
		Started string `json:"started"`
		Aborted string `json:"aborted"`
		Skipped string `json:"skipped"`
		Checks  []struct {
			Status string `json:"status"`
		} `json:"checks"`
		Metrics []struct {
			Name  string `json:"name"`
			Step  string `json:"step"`
			Value any    `json:"value"`
		} `json:"metrics"`
	} `json:"scenarios"`
}

// columns are the metrics shown, by bare name (the last value recorded).
var columns = []struct{ name, title string }{
	{"rto_s", "new leader after (rto_s)"},
	{"patroni_rto_s", "Patroni's promotion record"},
	{"max_ack_gap_s", "client writes stalled (s)"},
	{"write_rto_s", "write_rto_s"},
	{"lost_writes", "lost writes"},
	{"indeterminate_writes", "indeterminate"},
	{"max_primaries", "max primaries"},
	{"split_brain_s", "split brain (s)"},
	{"lag_mb", "lag after (MiB)"},
	{"insert_ops", "inserts/s"},
}

func main() {
	profile := flag.String("profile", "", "the test bed's Patroni profile the journal was run with")
	flag.Parse()
	for i, path := range flag.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var j journal
		if err := json.Unmarshal(data, &j); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(1)
		}
		if i == 0 {
			head := []string{"scenario", "profile", "checks"}
			for _, c := range columns {
				head = append(head, c.title)
			}
			fmt.Println("| " + strings.Join(head, " | ") + " |")
			fmt.Println("|" + strings.Repeat("---|", len(head)))
		}
		for _, s := range j.Scenarios {
			passed := 0
			for _, c := range s.Checks {
				if c.Status == "passed" {
					passed++
				}
			}
			last := map[string]any{}
			for _, m := range s.Metrics {
				last[m.Name] = m.Value
			}
			verdict := fmt.Sprintf("%d/%d", passed, len(s.Checks))
			if s.Skipped != "" {
				verdict = "skipped" // requires not met: nothing ran
			}
			row := []string{s.Name, *profile, verdict}
			for _, c := range columns {
				v, ok := last[c.name]
				if !ok {
					row = append(row, "–")
					continue
				}
				if f, isNum := v.(float64); isNum {
					row = append(row, metric.FormatNumber(math.Round(f*100)/100))
					continue
				}
				row = append(row, fmt.Sprint(v))
			}
			fmt.Println("| " + strings.Join(row, " | ") + " |")
		}
	}
}
