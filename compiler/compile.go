// Package compiler turns a spec file into a validated model.Plan: it loads
// CUE, YAML or JSON, unifies it with the embedded #Cluster schema, checks
// every cross-field rule in Go, and derives what the renderers need. No CUE
// value leaves this package.
package compiler

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/schema"
)

// Result is a compiled spec.
type Result struct {
	Plan     *model.Plan
	Warnings []Warning
}

// Options are what a compile needs beyond the spec.
type Options struct {
	// History is what the secrets file remembers of the cluster's last
	// render (nil for a new cluster): a change of membership since then is
	// planned as a transition, and checked.
	History *model.History
	// Cluster is the cluster the history is of, and Secrets the file it
	// comes from: a spec of another cluster is refused.
	Cluster, Secrets string
}

// Compile reads the spec in src, named filename (its extension picks the
// format), and returns its plan for a new cluster.
func Compile(filename string, src []byte) (res *Result, err error) {
	return CompileWith(filename, src, Options{})
}

// CompileWith is Compile for a cluster with a past. A bad spec yields an
// Error listing every problem found, each with its field and position.
func CompileWith(filename string, src []byte, opts Options) (res *Result, err error) {
	// CUE is third-party code fed with arbitrary input: should it panic,
	// the spec that made it do so gets a clean error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, Error{{Pos: Pos{File: filename}, Msg: fmt.Sprintf("CUE failed while evaluating this spec (%v); simplify the construct it chokes on", r)}}
		}
	}()
	file, err := parse(filename, src)
	if err != nil {
		return nil, err
	}
	// One context per compile: CUE values are not shared across calls.
	ctx := cuecontext.New()
	def := ctx.CompileString(schema.Source, cue.Filename(schema.Filename)).
		LookupPath(cue.ParsePath(schema.Definition))
	if err := def.Err(); err != nil {
		return nil, fmt.Errorf("internal error: the embedded schema does not compile: %w", err)
	}
	data := ctx.BuildFile(file)
	if err := data.Err(); err != nil {
		return nil, cueError(filename, err, nil, data)
	}
	pos := indexPositions(data)
	// Data first, so that error paths and positions are the user's.
	v := data.Unify(def)
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return nil, cueError(filename, err, pos, data)
	}
	var s spec
	if err := v.Decode(&s); err != nil {
		return nil, cueError(filename, err, pos, data)
	}
	c := &checker{file: filename, pos: pos, history: opts.History, opts: opts}
	plan := c.plan(&s)
	if len(c.errs) > 0 {
		sortProblems(c.errs)
		return nil, Error(dedupe(c.errs))
	}
	sortProblems(c.warns)
	return &Result{Plan: plan, Warnings: dedupe(c.warns)}, nil
}

// positions maps a field's path to where the user wrote it.
type positions map[string]Pos

// of returns the position of path, or of its nearest ancestor that the user
// wrote (a missing field is reported at the struct that lacks it).
func (p positions) of(path Path) Pos {
	for n := len(path); n >= 0; n-- {
		if pos, ok := p[path[:n].String()]; ok {
			return pos
		}
	}
	return Pos{}
}

func indexPositions(data cue.Value) positions {
	pos := positions{}
	var walk func(v cue.Value, path Path)
	walk = func(v cue.Value, path Path) {
		if p := posOf(v.Pos()); p.File != "" {
			pos[path.String()] = p
		}
		switch v.IncompleteKind() {
		case cue.StructKind:
			it, err := v.Fields(cue.Optional(true))
			if err != nil {
				return
			}
			for it.Next() {
				walk(it.Value(), path.Child(it.Selector().Unquoted()))
			}
		case cue.ListKind:
			it, err := v.List()
			if err != nil {
				return
			}
			for i := 0; it.Next(); i++ {
				walk(it.Value(), path.Child(fmt.Sprint(i)))
			}
		}
	}
	walk(data, nil)
	return pos
}

var (
	disjunctionHeader = regexp.MustCompile(`^\d+ errors in empty disjunction:?$`)
	conflictingValues = regexp.MustCompile(`^conflicting values (.+?) and (.+)$`)
	mismatchedTypes   = regexp.MustCompile(` \(mismatched types [^()]*\)$`)
	kindNames         = map[string]bool{"int": true, "string": true, "bool": true, "number": true, "float": true, "struct": true, "list": true, "{}": true, "[]": true}
)

// cueError turns CUE's errors into one problem per field, at the user's
// position. CUE reports a value that fails a defaulted or enumerated field
// once per alternative ("conflicting values 6443 and 70000", "conflicting
// values "worker" and "master"", ...): those are folded into one message.
func cueError(filename string, err error, pos positions, data cue.Value) Error {
	type group struct {
		path  Path
		pos   Pos
		other []string   // plain messages
		confl [][]string // the two sides of each "conflicting values"
	}
	var order []string
	groups := map[string]*group{}
	for _, e := range errors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if disjunctionHeader.MatchString(msg) {
			continue
		}
		path := Path(e.Path())
		key := path.String()
		g := groups[key]
		if g == nil {
			g = &group{path: path}
			groups[key] = g
			order = append(order, key)
		}
		if g.pos.File == "" {
			g.pos = userPos(filename, e, path, pos)
		}
		if m := conflictingValues.FindStringSubmatch(mismatchedTypes.ReplaceAllString(msg, "")); m != nil {
			g.confl = append(g.confl, []string{m[1], m[2]})
			continue
		}
		g.other = append(g.other, msg)
	}
	var out Error
	for _, key := range order {
		g := groups[key]
		msgs := g.other
		if len(msgs) == 0 && len(g.confl) > 0 {
			msgs = []string{foldConflicts(g.confl, givenValue(data, g.path))}
		}
		for _, m := range msgs {
			if hint, ok := requiredHints[key]; ok && m == requiredMsg {
				m += ": " + hint
			}
			out = append(out, Problem{Path: g.path, Pos: g.pos, Msg: m})
		}
	}
	if len(out) == 0 {
		out = Error{{Pos: Pos{File: filename}, Msg: err.Error()}}
	}
	sortProblems(out)
	return dedupe(out)
}

// requiredMsg is CUE's message for a missing required field.
const requiredMsg = "field is required but not present"

// requiredHints say what to write where a required field is missing.
var requiredHints = map[string]string{
	"kubernetes.version": fmt.Sprintf("name the release to run, e.g. kubernetes: version: %q, the newest hagen knows (hagen init writes it). There is no default: it would change the cluster's version whenever hagen is upgraded", NewestRelease),
}

// foldConflicts states which value was given and what was wanted. given is
// the user's value as CUE prints it, if known.
func foldConflicts(cs [][]string, given string) string {
	sides := map[string]bool{}
	for _, c := range cs {
		sides[c[0]], sides[c[1]] = true, true
	}
	if (given == "" || !sides[given]) && len(cs) == 1 {
		// Both sides are the user's (a field given twice).
		return fmt.Sprintf("conflicting values %s and %s", cs[0][0], cs[0][1])
	}
	if given == "" || !sides[given] {
		// The user's value is the side every conflict shares.
		count := map[string]int{}
		for _, c := range cs {
			count[c[0]]++
			count[c[1]]++
		}
		given = ""
		for v, n := range count {
			if n == len(cs) && (given == "" || v < given) {
				given = v
			}
		}
	}
	var wanted []string
	for v := range sides {
		if v != given {
			wanted = append(wanted, v)
		}
	}
	// A wrong type conflicts with the default too; the type is the news.
	var kinds []string
	for i, w := range wanted {
		if len(w) > 20 && (w[0] == '{' || w[0] == '[') || strings.HasPrefix(w, "[...") {
			w = map[byte]string{'{': "struct", '[': "list"}[w[0]]
			wanted[i] = w
		}
		if kindNames[w] {
			kinds = append(kinds, w)
		}
	}
	if len(kinds) > 0 {
		wanted = kinds
	}
	sort.Strings(wanted)
	if given == "" {
		return "conflicting values " + strings.Join(wanted, ", ")
	}
	if len(wanted) == 1 {
		return fmt.Sprintf("got %s, want %s", given, wanted[0])
	}
	return fmt.Sprintf("got %s, want one of %s", given, strings.Join(wanted, ", "))
}

// givenValue prints the user's value at path, as CUE's messages print it.
func givenValue(data cue.Value, path Path) string {
	sels := make([]cue.Selector, len(path))
	for i, s := range path {
		if n, err := strconv.Atoi(s); err == nil {
			sels[i] = cue.Index(n)
		} else {
			sels[i] = cue.Str(s)
		}
	}
	v := data.LookupPath(cue.MakePath(sels...))
	if !v.Exists() {
		return ""
	}
	return fmt.Sprint(v)
}

// userPos picks the position of an error in the user's file, falling back to
// the nearest enclosing field the user wrote.
func userPos(filename string, e errors.Error, path Path, pos positions) Pos {
	for _, p := range errors.Positions(e) {
		if pp := posOf(p); pp.File == filename {
			return pp
		}
	}
	if pos != nil {
		if p := pos.of(path); p.File != "" {
			return p
		}
	}
	return Pos{File: filename}
}
