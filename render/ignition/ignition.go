// Package ignition renders one Ignition config per host for Fedora CoreOS
// and Flatcar: the host's files (storage.files), its systemd units
// (systemd.units, with their contents) and the units of the bundle's boot
// steps enabled, so that they start as the machine boots. Ignition runs no
// commands: a boot step's commands must all be systemctl verbs that enabling
// a unit covers. Decode reads one back, for hagen verify.
//
// The types mirror the part of Ignition's config spec 3.4.0 that hagen
// writes; the tests parse every config with Ignition's own config package.
package ignition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/hagen/hagen/internal/gzb64"
	"github.com/hagen/hagen/render/bundle"
)

// Version is the config spec version hagen writes: the newest one that
// current Flatcar and Fedora CoreOS releases both accept.
const Version = "3.4.0"

// Dir is where the bundle keeps the configs.
const Dir = "ignition"

// Path is the bundle path of host's config.
func Path(host string) string { return Dir + "/" + host + ".ign" }

// unitDir is where a file is a unit (or a unit's drop-in) rather than a
// plain file.
const unitDir = "/etc/systemd/system"

// dataPrefix: contents are inline data URLs of gzipped bytes.
const dataPrefix = "data:;base64,"

// Config is the part of an Ignition config that hagen writes.
type Config struct {
	Ignition Ignition `json:"ignition"`
	Storage  Storage  `json:"storage,omitzero"`
	Systemd  Systemd  `json:"systemd,omitzero"`
}

type Ignition struct {
	Version string `json:"version"`
}

type Storage struct {
	Files []File `json:"files,omitempty"`
}

type File struct {
	Path      string   `json:"path"`
	Overwrite bool     `json:"overwrite"`
	Mode      int      `json:"mode"`
	User      Node     `json:"user"`
	Group     Node     `json:"group"`
	Contents  Resource `json:"contents"`
}

type Node struct {
	Name string `json:"name"`
}

type Resource struct {
	Compression string `json:"compression,omitempty"`
	Source      string `json:"source"`
}

type Systemd struct {
	Units []Unit `json:"units,omitempty"`
}

type Unit struct {
	Name     string   `json:"name"`
	Enabled  *bool    `json:"enabled,omitempty"`
	Contents *string  `json:"contents,omitempty"`
	Dropins  []Dropin `json:"dropins,omitempty"`
}

type Dropin struct {
	Name     string `json:"name"`
	Contents string `json:"contents"`
}

// Host renders host's config from its files and the boot steps that name
// it.
func Host(host string, files []bundle.File, steps []bundle.Step) ([]byte, error) {
	c := Config{Ignition: Ignition{Version: Version}}
	units := map[string]*Unit{}
	unit := func(name string) *Unit {
		if u := units[name]; u != nil {
			return u
		}
		u := &Unit{Name: name}
		units[name] = u
		return u
	}
	for _, f := range files {
		if dir, name := path.Split(f.Path); path.Clean(dir) == unitDir && f.Mode == bundle.ModePublic && (f.Owner == "" || f.Owner == "root") {
			contents := string(f.Data)
			unit(name).Contents = &contents
			continue
		} else if strings.HasSuffix(path.Clean(dir), ".d") && path.Dir(path.Clean(dir)) == unitDir && f.Mode == bundle.ModePublic && (f.Owner == "" || f.Owner == "root") {
			u := unit(strings.TrimSuffix(path.Base(path.Clean(dir)), ".d"))
			u.Dropins = append(u.Dropins, Dropin{Name: name, Contents: string(f.Data)})
			continue
		}
		source, err := dataURL(f.Data)
		if err != nil {
			return nil, err
		}
		owner := f.Owner
		if owner == "" {
			owner = "root"
		}
		c.Storage.Files = append(c.Storage.Files, File{
			Path: f.Path, Overwrite: true, Mode: int(f.Mode.Perm()),
			User: Node{owner}, Group: Node{owner},
			Contents: Resource{Compression: "gzip", Source: source},
		})
	}
	for _, s := range steps {
		if !s.Boot || !slices.Contains(s.Hosts, host) {
			continue
		}
		enabled, err := bootUnits(s)
		if err != nil {
			return nil, err
		}
		for _, name := range enabled {
			on := true
			unit(name).Enabled = &on
		}
	}
	names := make([]string, 0, len(units))
	for n := range units {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		c.Systemd.Units = append(c.Systemd.Units, *units[n])
	}
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// bootUnits are the units a boot step enables. Enabling a unit is all of
// the step at boot: Ignition runs before systemd starts anything, so an
// enabled unit starts with the machine, and a reload or restart has
// nothing to act on yet. Any other command cannot be said in Ignition.
func bootUnits(s bundle.Step) ([]string, error) {
	var enabled []string
	for _, cmd := range s.Commands {
		f := strings.Fields(cmd)
		if len(f) < 2 || f[0] != "systemctl" {
			return nil, fmt.Errorf("step %s: %q is not a systemctl verb: Ignition runs no commands", s.Name, cmd)
		}
		switch f[1] {
		case "enable":
			if len(f) != 3 {
				return nil, fmt.Errorf("step %s: %q: want one unit", s.Name, cmd)
			}
			enabled = append(enabled, unitName(f[2]))
		case "daemon-reload", "start", "restart", "reload-or-restart":
			// Covered by the unit being enabled (checked below).
		default:
			return nil, fmt.Errorf("step %s: %q: Ignition cannot say systemctl %s", s.Name, cmd, f[1])
		}
	}
	for _, cmd := range s.Commands {
		f := strings.Fields(cmd)
		if f[1] == "daemon-reload" || f[1] == "enable" {
			continue
		}
		u := unitName(f[len(f)-1])
		if !slices.Contains(enabled, u) {
			return nil, fmt.Errorf("step %s: %q acts on %s, which the step does not enable: it would not start at boot", s.Name, cmd, u)
		}
	}
	return enabled, nil
}

// unitName adds .service to a bare unit name, as systemctl does.
func unitName(s string) string {
	if strings.Contains(s, ".") {
		return s
	}
	return s + ".service"
}

func dataURL(data []byte) (string, error) {
	packed, err := gzb64.Pack(data)
	return dataPrefix + packed, err
}

// Decode reads a config that Host wrote back into the files it lays
// (units and drop-ins as files under /etc/systemd/system) and the units it
// enables.
func Decode(data []byte) ([]bundle.File, []string, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, nil, err
	}
	if c.Ignition.Version != Version {
		return nil, nil, fmt.Errorf("ignition.version %q, want %q", c.Ignition.Version, Version)
	}
	var files []bundle.File
	for i, f := range c.Storage.Files {
		if f.Contents.Compression != "gzip" || !strings.HasPrefix(f.Contents.Source, dataPrefix) {
			return nil, nil, fmt.Errorf("storage.files[%d] %s: want a gzipped data URL", i, f.Path)
		}
		content, err := gzb64.Unpack(strings.TrimPrefix(f.Contents.Source, dataPrefix))
		if err != nil {
			return nil, nil, fmt.Errorf("storage.files[%d] %s: %v", i, f.Path, err)
		}
		files = append(files, bundle.File{Path: f.Path, Mode: fs.FileMode(f.Mode), Owner: f.User.Name, Data: content})
	}
	var enabled []string
	for _, u := range c.Systemd.Units {
		if u.Contents != nil {
			files = append(files, bundle.File{Path: path.Join(unitDir, u.Name), Mode: bundle.ModePublic, Owner: "root", Data: []byte(*u.Contents)})
		}
		for _, d := range u.Dropins {
			files = append(files, bundle.File{Path: path.Join(unitDir, u.Name+".d", d.Name), Mode: bundle.ModePublic, Owner: "root", Data: []byte(d.Contents)})
		}
		if u.Enabled != nil && *u.Enabled {
			enabled = append(enabled, u.Name)
		}
	}
	return files, enabled, nil
}
