package compiler

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// Formats a spec may be written in, chosen by file extension.
var formats = map[string]func(filename string, src []byte) (*ast.File, error){
	".cue":  parseCUE,
	".yaml": parseYAML,
	".yml":  parseYAML,
	".json": parseJSON,
}

// parse turns a spec file into CUE syntax, whatever its format.
func parse(filename string, src []byte) (*ast.File, error) {
	ext := strings.ToLower(filepath.Ext(filename))
	parseFn, ok := formats[ext]
	if !ok {
		return nil, Error{{Pos: Pos{File: filename}, Msg: fmt.Sprintf("unknown spec format %q: name the file .cue, .yaml, .yml or .json", ext)}}
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, Error{{Pos: Pos{File: filename, Line: 1, Col: 1}, Msg: "the spec is empty: it needs at least name, network.podSubnet, controlPlane.loadBalancer and hosts (`hagen init` writes a starter)"}}
	}
	f, err := safeParse(parseFn, filename, src)
	if err != nil {
		return nil, syntaxError(filename, err)
	}
	if len(f.Decls) == 0 {
		return nil, Error{{Pos: Pos{File: filename, Line: 1, Col: 1}, Msg: "the spec has no fields: it needs at least name, network.podSubnet, controlPlane.loadBalancer and hosts (`hagen init` writes a starter)"}}
	}
	if ext != ".cue" {
		if onlyNull(f.Decls) {
			return nil, Error{{Pos: Pos{File: filename, Line: 1, Col: 1}, Msg: "the spec has no fields: it needs at least name, network.podSubnet, controlPlane.loadBalancer and hosts (`hagen init` writes a starter)"}}
		}
		for _, d := range f.Decls {
			if _, ok := d.(*ast.Field); !ok {
				pos := posOf(d.Pos())
				if pos.File == "" {
					pos = Pos{File: filename, Line: secondDocument(src), Col: 1}
				}
				return nil, Error{{Pos: pos, Msg: "the top level of a spec must be a mapping of fields (name, network, hosts, ...), in one document"}}
			}
		}
		// CUE unifies repeated fields, which would let a YAML or JSON
		// document repeat a key silently when both values agree.
		if errs := duplicateKeys(f.Decls, nil); len(errs) > 0 {
			return nil, errs
		}
	}
	return f, nil
}

// safeParse runs a third-party parser and turns a panic into a syntax
// error: the fuzzer found inputs ("\r---") that crash CUE's YAML decoder,
// and a bad spec must end in a clean, positioned error.
func safeParse(parseFn func(string, []byte) (*ast.File, error), filename string, src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, errors.Newf(token.NoPos, "the parser failed on this file (%v); check its line endings and indentation", r)
		}
	}()
	return parseFn(filename, src)
}

func parseCUE(filename string, src []byte) (*ast.File, error) {
	return parser.ParseFile(filename, src, parser.ParseComments)
}

func parseYAML(filename string, src []byte) (*ast.File, error) {
	return cueyaml.Extract(filename, src)
}

func parseJSON(filename string, src []byte) (*ast.File, error) {
	expr, err := cuejson.Extract(filename, src)
	if err != nil {
		return nil, err
	}
	st, ok := expr.(*ast.StructLit)
	if !ok {
		return nil, errors.Newf(expr.Pos(), "the top level of a spec must be an object")
	}
	return &ast.File{Filename: filename, Decls: st.Elts}, nil
}

// syntaxError turns a parser's error into positioned problems. CUE's
// parser carries positions; the YAML decoder only writes "file:line: msg".
func syntaxError(filename string, err error) Error {
	var out Error
	for _, e := range errors.Errors(err) {
		format, args := e.Msg()
		msg := strings.TrimSpace(fmt.Sprintf(format, args...))
		if msg == "" {
			msg = e.Error()
		}
		p := Problem{Pos: posOf(e.Position()), Msg: msg}
		if p.Pos.File == "" {
			p.Pos = Pos{File: filename}
			if rest, ok := strings.CutPrefix(msg, filename+":"); ok {
				line, text, _ := strings.Cut(rest, ":")
				if n, err := strconv.Atoi(line); err == nil {
					p.Pos.Line, p.Msg = n, strings.TrimSpace(text)
				}
			}
		}
		p.Msg = "syntax error: " + strings.TrimPrefix(p.Msg, "yaml: ")
		out = append(out, p)
	}
	if len(out) == 0 {
		out = Error{{Pos: Pos{File: filename}, Msg: "syntax error: " + err.Error()}}
	}
	return out
}

func duplicateKeys(decls []ast.Decl, path Path) Error {
	var errs Error
	seen := map[string]token.Pos{}
	for _, d := range decls {
		f, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		name, _, err := ast.LabelName(f.Label)
		if err != nil {
			continue
		}
		p := path.Child(name)
		if first, dup := seen[name]; dup {
			errs = append(errs, Problem{Path: p, Pos: posOf(f.Label.Pos()),
				Msg: fmt.Sprintf("duplicate key (first given at line %d)", first.Line())})
			continue
		}
		seen[name] = f.Label.Pos()
		errs = append(errs, duplicateKeysIn(f.Value, p)...)
	}
	return errs
}

func duplicateKeysIn(e ast.Expr, path Path) Error {
	switch v := e.(type) {
	case *ast.StructLit:
		return duplicateKeys(v.Elts, path)
	case *ast.ListLit:
		var errs Error
		for i, el := range v.Elts {
			errs = append(errs, duplicateKeysIn(el, path.Child(fmt.Sprint(i)))...)
		}
		return errs
	}
	return nil
}

func posOf(p token.Pos) Pos {
	if !p.IsValid() {
		return Pos{}
	}
	pp := p.Position()
	return Pos{File: pp.Filename, Line: pp.Line, Col: pp.Column}
}

// secondDocument returns the line of the YAML document separator that starts
// a second document, or 1.
func secondDocument(src []byte) int {
	content := false
	for i, line := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "---") && content:
			return i + 1
		case t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "---"):
			content = true
		}
	}
	return 1
}

// onlyNull reports whether a YAML document holds nothing but null: a file
// of comments, or a bare "---".
func onlyNull(decls []ast.Decl) bool {
	for _, d := range decls {
		e, ok := d.(*ast.EmbedDecl)
		if !ok {
			return false
		}
		if lit, ok := e.Expr.(*ast.BasicLit); !ok || lit.Kind != token.NULL {
			return false
		}
	}
	return true
}
