package unit

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Env is the environment systemd 252 gives the unit's commands
// (systemd.exec(5), "Environment variables in spawned processes"): base,
// which stands for what the manager sets itself (PATH, MAINPID,
// NOTIFY_SOCKET, ...), then Environment=, then the EnvironmentFile=s, each
// layer overriding the one before. So a variable set in an environment
// file wins over the same variable in Environment=, wherever the two lines
// stand in the unit ("Settings from these files override settings made
// with Environment="), and of two files the later one wins. A variable
// keeps the place where it was first set; invalid names are dropped.
//
// The files are read now, under root, as systemd reads them at each start:
// a path may be a glob (its matches read in sorted order); a file written
// with "-" may be missing or unreadable, any other such file is an error,
// as it fails the start.
func (u *Unit) Env(root string, base []string) ([]string, error) {
	var env []string
	for _, e := range base {
		if envAssignmentValid(e) {
			env = envReplace(env, e)
		}
	}
	for _, e := range u.Environment {
		env = envReplace(env, e)
	}
	for _, f := range u.EnvironmentFiles {
		files, err := globUnder(root, f.Path)
		if err != nil || len(files) == 0 {
			if f.Optional {
				continue
			}
			if err == nil {
				err = fmt.Errorf("no file matches")
			}
			return nil, fmt.Errorf("%s: EnvironmentFile=%s: %w", u.Name, f.Path, err)
		}
		for _, p := range files {
			data, err := readFile(root, p)
			var vars []string
			if err == nil {
				vars, err = ParseEnvFile(data)
			}
			if err != nil {
				if f.Optional {
					continue
				}
				return nil, fmt.Errorf("%s: EnvironmentFile=%s: %w", u.Name, p, err)
			}
			for _, e := range vars {
				env = envReplace(env, e)
			}
		}
	}
	return env, nil
}

// globUnder expands pattern (an absolute path on the host) under root, as
// glob(3) would: sorted, and a wildcard does not match a leading dot. A
// pattern without wildcards is returned as it is, to be read (and found
// missing) by the caller.
func globUnder(root, pattern string) ([]string, error) {
	if !strings.ContainsAny(pattern, "*?[") {
		if _, err := chase(root, pattern, true); err != nil {
			return nil, err
		}
		return []string{pattern}, nil
	}
	matches, err := filepath.Glob(hostPath(root, pattern))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		rel, err := filepath.Rel(root, m)
		if err != nil {
			continue
		}
		p := "/" + filepath.ToSlash(rel)
		if dotMatchedByWildcard(pattern, p) {
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// dotMatchedByWildcard reports whether a component of p starting with "."
// was matched by a pattern component that does not start with ".", which
// glob(3) does not allow.
func dotMatchedByWildcard(pattern, p string) bool {
	pc, mc := strings.Split(pattern, "/"), strings.Split(p, "/")
	for i := range mc {
		if i < len(pc) && strings.HasPrefix(mc[i], ".") && !strings.HasPrefix(pc[i], ".") {
			return true
		}
	}
	return false
}

// Expand parses cmdline as a value of ExecStart= of this unit (prefixes,
// quoting, specifiers) and returns the argv systemd would run with
// environment env. It is for a single command; use Command.Argv for the
// unit's own commands.
func (u *Unit) Expand(cmdline string, env []string) ([]string, error) {
	sp := u.sp
	if sp == nil {
		sp = &specifiers{root: "/", name: u.Name, fragment: u.Path}
	}
	cmds, err := parseCommands(cmdline, sp, func(string) {})
	if err != nil {
		return nil, err
	}
	if len(cmds) != 1 {
		return nil, fmt.Errorf("%q holds %d commands, not one", cmdline, len(cmds))
	}
	return cmds[0].Argv(env), nil
}
