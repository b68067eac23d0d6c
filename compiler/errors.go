package compiler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Pos is a place in a spec file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return p.File + ":" + strconv.Itoa(p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Path names a field of the spec, e.g. hosts.master0.roles[1].
type Path []string

// Child returns the path of a field below p. It always copies: appending
// to a shared parent would let two siblings' paths share, and overwrite,
// one backing array.
func (p Path) Child(segs ...string) Path {
	out := make(Path, 0, len(p)+len(segs))
	return append(append(out, p...), segs...)
}

func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if strings.ContainsAny(s, ". \t\"[]") || s == "" {
			s = strconv.Quote(s)
		}
		b.WriteString(s)
	}
	return b.String()
}

// Problem is one finding about a spec: a field, where it was written, and
// what is wrong with it.
type Problem struct {
	Path Path
	Pos  Pos
	Msg  string
}

func (p Problem) String() string {
	s := p.Msg
	if len(p.Path) > 0 {
		s = p.Path.String() + ": " + s
	}
	if pos := p.Pos.String(); pos != "" {
		s += " (" + pos + ")"
	}
	return s
}

// Error is the list of problems that make a spec unusable. It is the only
// error type Compile returns for a bad spec (exit status 1); anything else
// is an I/O or internal failure.
type Error []Problem

func (e Error) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Warning is a problem that does not stop compilation.
type Warning = Problem

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return ps[i].Path.String() < ps[j].Path.String()
	})
}

// dedupe drops repeated problems, keeping the first of each.
func dedupe(ps []Problem) []Problem {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		k := p.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}
