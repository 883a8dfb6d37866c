// Command htmlcheck loads drill's HTML reports in headless Chromium and
// checks what is on the page against the JSON journal they came from (see
// internal/app/htmlreport/chromiumtest); it keeps a screenshot (PNG) and
// the A4 print (PDF) of each beside it. scripts/e2e runs it on the reports
// of the shipped drills.
//
//	go run ./scripts/htmlcheck out/e2e/junit.json out/e2e/junit.html
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/app/htmlreport/chromiumtest"
	"github.com/drill-dev/drill/internal/app/report"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: htmlcheck JOURNAL.json REPORT.html [JOURNAL.json REPORT.html]...")
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 || len(args)%2 != 0 {
		flag.Usage()
		os.Exit(2)
	}
	bin, err := chromiumtest.Binary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "htmlcheck:", err)
		os.Exit(1)
	}
	code := 0
	for i := 0; i < len(args); i += 2 {
		if err := check(bin, args[i], args[i+1]); err != nil {
			fmt.Fprintf(os.Stderr, "htmlcheck: %s: %v\n", args[i+1], err)
			code = 1
		}
	}
	os.Exit(code)
}

func check(bin, journalPath, page string) error {
	f, err := os.Open(journalPath)
	if err != nil {
		return err
	}
	run, err := report.ReadJSON(f)
	f.Close()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	dom, err := chromiumtest.DumpDOM(ctx, bin, page)
	if err != nil {
		return err
	}
	if err := chromiumtest.Check(dom, run); err != nil {
		return err
	}
	base := strings.TrimSuffix(page, ".html")
	if err := chromiumtest.Screenshot(ctx, bin, page, base+".png", 1400, chromiumtest.PageHeight(dom)); err != nil {
		return err
	}
	if err := chromiumtest.PrintPDF(ctx, bin, page, base+".pdf"); err != nil {
		return err
	}
	fmt.Printf("  %s: %d scenario(s) on the page as in %s; kept %s.png and %s.pdf (%s)\n", page, len(run.Scenarios), journalPath, base, base, time.Since(start).Round(time.Second))
	return nil
}
