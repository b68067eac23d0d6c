package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hagen/hagen/lab/drill"
)

// report prints one line per check and drill, with its figures, as they
// happen, then a summary line.
type report struct {
	w              io.Writer
	verbose        bool
	passed, failed int
}

func (r *report) line(status, name, detail string) {
	fmt.Fprintf(r.w, "%-4s %-28s %s\n", status, name, detail)
}

// figure is a passed check or drill with its measurement.
func (r *report) figure(name, detail string, took time.Duration) {
	r.passed++
	r.line("ok", name, fmt.Sprintf("%s (%s)", detail, took.Round(100*time.Millisecond)))
}

// pass is a passed check.
func (r *report) pass(name, detail string) {
	r.passed++
	r.line("ok", name, detail)
}

// fail is a failed check: a finding about the bundle.
func (r *report) fail(name, detail string) {
	r.failed++
	first, rest, _ := strings.Cut(detail, "\n")
	r.line("FAIL", name, first)
	if rest != "" {
		fmt.Fprintln(r.w, "     "+strings.ReplaceAll(rest, "\n", "\n     "))
	}
}

// note is something the lab did in a person's place, or could not do.
func (r *report) note(s string) { r.line("note", "", s) }

// summary prints the last line and returns the exit status.
func (r *report) summary(err error) int {
	var le labError
	switch {
	case errors.As(err, &le):
		fmt.Fprintf(r.w, "LAB ERROR: %v\n", le.err)
		fmt.Fprintf(r.w, "lab could not run: %d passed, %d failed before it stopped\n", r.passed, r.failed)
		return exitLab
	case err != nil || r.failed > 0:
		fmt.Fprintf(r.w, "FAILED: %d passed, %d failed\n", r.passed, r.failed)
		return exitFailed
	}
	fmt.Fprintf(r.w, "PASSED: %d checks and drills\n", r.passed)
	return exitOK
}

// result reports a check: passed with its detail and time, or failed with
// its error.
func (r *report) result(name, detail string, took time.Duration, err error) {
	if err != nil {
		r.fail(name, err.Error())
		return
	}
	if took > 0 {
		r.figure(name, detail, took)
	} else {
		r.pass(name, detail)
	}
}

// drill reports a drill, keeping its figures for the summary.
func (r *report) drill(d drill.Result) {
	r.result(d.Name, d.Detail, d.Took, d.Err)
}
