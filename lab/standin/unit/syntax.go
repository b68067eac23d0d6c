package unit

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Directive is one line of a unit file or drop-in that had no effect here:
// a setting the package does not model, or one systemd itself ignores (an
// unknown key, a bad value). Reason says which, in words fit for a report.
type Directive struct {
	File    string // the file as found in the search path
	Line    int    // where the setting starts
	Section string // "" for a line outside any section
	Key     string // "" for a line that is not an assignment
	Value   string
	Reason  string
}

func (d Directive) String() string {
	if d.Key == "" {
		return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Reason)
	}
	return fmt.Sprintf("%s:%d: [%s] %s: %s", d.File, d.Line, d.Section, d.Key, d.Reason)
}

// Error is a problem that makes systemd refuse to load the unit (its load
// state becomes "bad-setting" or "error"), with the line that caused it
// when there is one.
type Error struct {
	Unit string
	File string
	Line int // 0 when the problem is the unit as a whole
	Msg  string
}

func (e *Error) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: %s", e.Unit, e.Msg)
	}
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s: %s", e.File, e.Unit, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// assignment is one Key=Value of a known section, after line joining.
type assignment struct {
	file    string
	line    int
	section string
	key     string
	value   string
}

// maxLine is systemd's LONG_LINE_MAX: a longer line, joined or not, makes
// the file unreadable.
const maxLine = 1 << 20

// sections are the sections of a service unit (service.c's .sections).
var sections = map[string]bool{"Unit": true, "Service": true, "Install": true}

// parseFile splits a unit file into assignments as systemd's config_parse()
// does (systemd.syntax(7)):
//   - a line whose first non-blank character is # or ; is a comment, even in
//     the middle of a continued line, which then goes on after it;
//   - a line ending in an unescaped backslash is joined to the next one, the
//     backslash becoming a space and the next line's leading blanks kept;
//   - blanks around the key and the value are dropped;
//   - an unknown section is skipped whole (silently when it starts with X-),
//     and so are keys starting with X-.
//
// Lines systemd warns about and skips are returned as notes. A malformed
// section header, a line that is not UTF-8 or an overlong line is an
// error, as it is for systemd; the assignments before it are returned with
// it, as systemd has applied them by then.
func parseFile(unit, file string, data []byte) ([]assignment, []Directive, error) {
	var (
		as         []assignment
		notes      []Directive
		section    string
		skipping   bool // in an unknown section
		cont       *string
		contLine   int
		bomAllowed = true
	)
	note := func(line int, reason string) {
		notes = append(notes, Directive{File: file, Line: line, Section: section, Reason: reason})
	}
	parseLine := func(l string, line int) error {
		l = strings.Trim(l, whitespace)
		if l == "" {
			return nil
		}
		if !utf8.ValidString(l) {
			return &Error{Unit: unit, File: file, Line: line, Msg: "line is not valid UTF-8"}
		}
		if l[0] == '[' {
			if l[len(l)-1] != ']' {
				return &Error{Unit: unit, File: file, Line: line, Msg: fmt.Sprintf("invalid section header %q", l)}
			}
			n := l[1 : len(l)-1]
			if sections[n] {
				section, skipping = n, false
				return nil
			}
			section, skipping = "", true
			if !strings.HasPrefix(n, "X-") {
				note(line, fmt.Sprintf("unknown section [%s], ignored with everything in it (as systemd does)", n))
			}
			return nil
		}
		if section == "" {
			if !skipping {
				note(line, "assignment outside of any section, ignored (as systemd does)")
			}
			return nil
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			note(line, "missing '=', line ignored (as systemd does)")
			return nil
		}
		if k == "" {
			note(line, "missing key name before '=', line ignored (as systemd does)")
			return nil
		}
		k = strings.Trim(k, whitespace)
		if strings.HasPrefix(k, "X-") {
			return nil
		}
		as = append(as, assignment{file: file, line: line, section: section, key: k, value: strings.Trim(v, whitespace)})
		return nil
	}
	lines := splitLines(data)
	for i, buf := range lines {
		line := i + 1
		if len(buf) > maxLine {
			return as, notes, &Error{Unit: unit, File: file, Line: line, Msg: "line too long"}
		}
		if t := strings.TrimLeft(buf, whitespace); t != "" && (t[0] == '#' || t[0] == ';') {
			continue
		}
		l := buf
		// systemd drops a byte order mark at the start of a line, until it
		// has seen one.
		if bomAllowed {
			if rest, ok := strings.CutPrefix(buf, "\ufeff"); ok {
				l, bomAllowed = rest, false
			}
		}
		p := l
		if cont != nil {
			if len(*cont)+len(l) > maxLine {
				return as, notes, &Error{Unit: unit, File: file, Line: line, Msg: "continued line too long"}
			}
			p = *cont + l
		} else {
			contLine = line
		}
		escaped := false
		for j := 0; j < len(p); j++ {
			if escaped {
				escaped = false
			} else if p[j] == '\\' {
				escaped = true
			}
		}
		if escaped {
			p = p[:len(p)-1] + " "
			cont = &p
			continue
		}
		if err := parseLine(p, contLine); err != nil {
			return as, notes, err
		}
		cont = nil
	}
	if cont != nil {
		if err := parseLine(*cont, contLine); err != nil {
			return as, notes, err
		}
	}
	return as, notes, nil
}

// splitLines splits data at systemd's line ends (read_line(): \n, \r, \r\n
// and NUL), without the line ends.
func splitLines(data []byte) []string {
	var lines []string
	start := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n', 0:
			lines = append(lines, string(data[start:i]))
			start = i + 1
		case '\r':
			lines = append(lines, string(data[start:i]))
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(data) {
		lines = append(lines, string(data[start:]))
	}
	return lines
}
