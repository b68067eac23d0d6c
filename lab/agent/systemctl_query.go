package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/hagen/hagen/lab/standin/unit"
)

// query holds the options of systemctl's query verbs (show, list-units,
// list-unit-files), which configuration management reads: Ansible's
// systemd_service module runs `systemctl show UNIT` and decides from
// LoadState, ActiveState and UnitFileState; its service_facts module
// parses list-units and list-unit-files as systemd 252 prints them.
type query struct {
	all, valueOnly, noLegend bool
	types, props             []string
}

// unitView is what systemctl says about one unit.
type unitView struct {
	Name, Description                          string
	LoadState, LoadError                       string
	ActiveState, SubState, Result              string
	UnitFileState, FragmentPath, Type, Restart string
	DropIns                                    []string
	MainPID                                    int
}

// properties are the unit's properties in the order systemctl show
// prints them (a subset: the ones the manager stand-in backs).
func (v unitView) properties() [][2]string {
	return [][2]string{
		{"Type", v.Type},
		{"Restart", v.Restart},
		{"MainPID", fmt.Sprint(v.MainPID)},
		{"Result", v.Result},
		{"Id", v.Name},
		{"Names", v.Name},
		{"Description", v.Description},
		{"LoadState", v.LoadState},
		{"ActiveState", v.ActiveState},
		{"SubState", v.SubState},
		{"FragmentPath", v.FragmentPath},
		{"DropInPaths", strings.Join(v.DropIns, " ")},
		{"UnitFileState", v.UnitFileState},
		{"LoadError", v.LoadError},
	}
}

// bad is whether list-units marks the unit with "●": it did not load, is
// masked, or failed.
func (v unitView) bad() bool {
	return v.LoadState != "loaded" || v.ActiveState == "failed"
}

// view is the unit as the manager knows it: its state if it was ever
// referenced, its definition as loaded (or the file now).
func (s *systemd) view(name string) unitView {
	v := unitView{Name: name, Description: name, LoadState: "loaded", ActiveState: "inactive", SubState: "dead", Result: "success"}
	s.mu.Lock()
	var def *unit.Unit
	if sv, ok := s.units[name]; ok {
		def = sv.def
		v.ActiveState, v.SubState, v.MainPID = sv.state, sv.sub, sv.mainPID
		if sv.result != "" {
			v.Result = sv.result
		}
	}
	s.mu.Unlock()
	u := def
	if u == nil {
		var err error
		u, err = unit.Load("/", name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			v.LoadState, v.LoadError = "not-found", fmt.Sprintf("org.freedesktop.systemd1.NoSuchUnit \"Unit %s not found.\"", name)
			return v
		case err != nil:
			v.LoadState, v.LoadError = "bad-setting", fmt.Sprintf("org.freedesktop.systemd1.BadUnitSetting %q", err.Error())
			return v
		}
	}
	if u.Masked {
		v.LoadState, v.UnitFileState = "masked", "masked"
		return v
	}
	if u.Description != "" {
		v.Description = u.Description
	}
	v.FragmentPath, v.DropIns, v.Type, v.Restart = u.Path, u.DropIns, u.Type, u.Restart
	v.UnitFileState, _ = s.enabledState(name)
	return v
}

// show prints each unit's properties as KEY=VALUE lines (or the values
// alone with --value), units separated by an empty line.
func (s *systemd) show(names []string, q query, out, errb *bytes.Buffer) int {
	if len(names) == 0 {
		fmt.Fprintln(errb, "systemctl (hagen-lab): show needs a unit: the stand-in has no manager properties")
		return 1
	}
	for i, n := range names {
		if i > 0 {
			fmt.Fprintln(out)
		}
		for _, p := range s.view(n).properties() {
			if len(q.props) > 0 && !slices.Contains(q.props, p[0]) {
				continue
			}
			if len(q.props) == 0 && p[1] == "" && !q.all {
				continue // systemctl show leaves out empty properties unless --all
			}
			if q.valueOnly {
				fmt.Fprintln(out, p[1])
			} else {
				fmt.Fprintf(out, "%s=%s\n", p[0], p[1])
			}
		}
	}
	return 0
}

// wantsServices is whether --type lets services through.
func (q query) wantsServices() bool {
	return len(q.types) == 0 || slices.Contains(q.types, "service")
}

// matches is whether name matches one of the patterns (all without any).
func matches(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok || p == name {
			return true
		}
	}
	return false
}

// listUnits prints the units the manager has loaded, as systemctl
// list-units does: with --all also the inactive ones; "●" first on a unit
// that did not load or failed. systemd has loaded, at boot, nearly every
// unit on its search path (every one a target pulls in); the stand-in
// loads a unit when it is first referenced, so with --all it lists every
// service unit file too (templates aside), as a booted systemd would.
func (s *systemd) listUnits(patterns []string, q query, out, errb *bytes.Buffer) int {
	var rows [][]string
	if q.wantsServices() {
		s.mu.Lock()
		names := make([]string, 0, len(s.units))
		for n := range s.units {
			names = append(names, n)
		}
		s.mu.Unlock()
		if q.all {
			for _, n := range unitFiles(patterns) {
				if !strings.HasSuffix(n, "@.service") && !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
		slices.Sort(names)
		for _, n := range names {
			if !matches(n, patterns) {
				continue
			}
			v := s.view(n)
			if !q.all && v.ActiveState == "inactive" {
				continue
			}
			mark := " "
			if v.bad() {
				mark = "●"
			}
			rows = append(rows, []string{mark, n, v.LoadState, v.ActiveState, v.SubState, v.Description})
		}
	}
	table(out, []string{" ", "UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION"}, rows, q.noLegend)
	if !q.noLegend {
		fmt.Fprintf(out, "\nLOAD   = Reflects whether the unit definition was properly loaded.\n"+
			"ACTIVE = The high-level unit activation state, i.e. generalization of SUB.\n"+
			"SUB    = The low-level unit activation state, values depend on unit type.\n"+
			"%d loaded units listed.\n", len(rows))
	}
	return 0
}

// unitFiles are the names of the service unit files on the search path
// that match the patterns, sorted.
func unitFiles(patterns []string) []string {
	seen := map[string]bool{}
	var names []string
	for _, dir := range searchPath {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".service") || e.IsDir() || seen[n] || !matches(n, patterns) {
				continue
			}
			seen[n] = true
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// listUnitFiles prints every service unit file of the search path (the
// first of a name wins) with its enablement state.
func (s *systemd) listUnitFiles(patterns []string, q query, out, errb *bytes.Buffer) int {
	var rows [][]string
	if q.wantsServices() {
		names := unitFiles(patterns)
		for _, n := range names {
			rows = append(rows, []string{n, s.unitFileState(n), "enabled"})
		}
	}
	table(out, []string{"UNIT FILE", "STATE", "VENDOR PRESET"}, rows, q.noLegend)
	if !q.noLegend {
		fmt.Fprintf(out, "\n%d unit files listed.\n", len(rows))
	}
	return 0
}

// unitFileState is list-unit-files' STATE: an alias (a link to another
// name), a template, or the enablement of the unit itself.
func (s *systemd) unitFileState(name string) string {
	if strings.HasSuffix(name, "@.service") {
		return "indirect"
	}
	u, err := unit.Load("/", name)
	if err != nil {
		return "bad"
	}
	if u.Name != name {
		return "alias"
	}
	st, err := s.enabledState(name)
	if err != nil {
		return "bad"
	}
	return st
}

// table prints rows in columns padded to their widest cell, as systemctl
// does, with the header unless legend is off.
func table(out *bytes.Buffer, header []string, rows [][]string, noLegend bool) {
	width := make([]int, len(header))
	all := rows
	if !noLegend {
		all = append([][]string{header}, rows...)
	}
	for _, r := range all {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range all {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", width[i]-len([]rune(c))+1))
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
}
