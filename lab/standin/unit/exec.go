package unit

import (
	"fmt"
	"strings"
)

// ExecSearchPath is where systemd 252 on Debian bookworm looks for a
// command whose path is a bare name (`systemd-path search-binaries-default`).
const ExecSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command is one command of ExecStart= or its kin as systemd holds it after
// loading the unit: unquoted, C escapes decoded, % specifiers resolved, and
// $VAR and ${VAR} still unexpanded, because systemd expands them only when
// it runs the command, with the environment of that moment (Argv).
type Command struct {
	// Path is the program: an absolute path, or a bare name that systemd
	// looks up in ExecSearchPath when it runs the command.
	Path string
	// Args is the argument vector, Args[0] included. Without "@" Args[0] is
	// the path as written; with it, the word that followed the path.
	Args []string

	IgnoreFailure   bool // "-": a failing exit status does not fail the unit
	OverrideArgv0   bool // "@": the second word is argv[0]
	NoEnvExpand     bool // ":": $VAR and ${VAR} are left as they are
	FullPrivileges  bool // "+": run as root, without User= or sandboxing
	NoSetuid        bool // "!": sandboxing applies, User= and Group= do not
	AmbientFallback bool // "!!": like "!" only where ambient capabilities are missing

	File string // where the command was written
	Line int
}

// parseCommands parses the value of ExecStart= and its kin (systemd's
// config_parse_exec(), systemd.service(5) "Command lines"): commands are
// separated by a lone ";" (a lone "\;" is a literal ";" argument); the first
// word carries the prefixes; every word is unquoted and C-unescaped, then
// has its specifiers resolved. warn receives what systemd logs and goes
// past (an unknown escape, kept verbatim). A bad command is an error, as it
// makes systemd refuse the unit, unless it has the "-" prefix: then systemd
// drops the rest of the line and keeps the unit, and so does this.
func parseCommands(v string, sp *specifiers, warn func(string)) (cmds []Command, err error) {
	p := strings.TrimLeft(v, whitespace)
	fail := func(ignore bool, format string, a ...any) ([]Command, error) {
		msg := fmt.Sprintf(format, a...)
		if ignore {
			warn(msg + "; the rest of the line is ignored, as the command has the \"-\" prefix (as systemd does)")
			return cmds, nil
		}
		return nil, fmt.Errorf("%s", msg)
	}
	word := func() (string, bool, error) {
		w, rest, ok, err := extractWord(p, unquote|cunescape)
		if err != nil {
			w, rest, ok, err = extractWord(p, unquote|cunescape|unescapeRelax)
			if err != nil {
				return "", false, fmt.Errorf("unbalanced quoting in %q", v)
			}
			warn(fmt.Sprintf("unknown escape sequence kept verbatim in %q (as systemd does)", w))
		}
		p = rest
		return w, ok, nil
	}
	for semicolon := true; semicolon; {
		semicolon = false
		first, ok, err := word()
		if err != nil {
			// systemd logs a bad first word and drops the rest of the
			// line, but keeps the unit.
			warn(err.Error() + "; the rest of the line is ignored (as systemd does)")
			return cmds, nil
		}
		if !ok {
			return cmds, nil
		}
		if first == ";" {
			semicolon = true
			continue
		}
		var c Command
		f := first
	prefixes:
		for f != "" {
			switch {
			case f[0] == '-' && !c.IgnoreFailure:
				c.IgnoreFailure = true
			case f[0] == '@' && !c.OverrideArgv0:
				c.OverrideArgv0 = true
			case f[0] == ':' && !c.NoEnvExpand:
				c.NoEnvExpand = true
			case f[0] == '+' && !c.FullPrivileges && !c.NoSetuid && !c.AmbientFallback:
				c.FullPrivileges = true
			case f[0] == '!' && !c.FullPrivileges && !c.NoSetuid && !c.AmbientFallback:
				c.NoSetuid = true
			case f[0] == '!' && !c.FullPrivileges && !c.AmbientFallback:
				c.NoSetuid, c.AmbientFallback = false, true
			default:
				break prefixes
			}
			f = f[1:]
		}
		path, err := sp.expand(f)
		if err != nil {
			return fail(c.IgnoreFailure, "cannot resolve specifiers in %q: %v", f, err)
		}
		switch {
		case path == "":
			return fail(c.IgnoreFailure, "empty path in command line %q", v)
		case !stringIsSafe(path):
			return fail(c.IgnoreFailure, "executable name contains special characters: %q", path)
		case strings.HasSuffix(path, "/"):
			return fail(c.IgnoreFailure, "executable path specifies a directory: %q", path)
		case strings.HasPrefix(path, "/") && !pathValid(path), !strings.HasPrefix(path, "/") && !filenameValid(path):
			return fail(c.IgnoreFailure, "neither a valid executable name nor an absolute path: %q", path)
		}
		if !c.OverrideArgv0 {
			c.Args = append(c.Args, path)
		}
		c.Path = simplifyPath(path)
		for {
			p = strings.TrimLeft(p, whitespace)
			if p == "" {
				break
			}
			// A lone ";" ends the command; a lone "\;" is an argument ";".
			// Checked on the raw text, so that ";" quoted or as part of a
			// word is an ordinary argument.
			if p[0] == ';' && (len(p) == 1 || strings.IndexByte(whitespace, p[1]) >= 0) {
				p = p[1:]
				semicolon = true
				break
			}
			if strings.HasPrefix(p, `\;`) && (len(p) == 2 || strings.IndexByte(whitespace, p[2]) >= 0) {
				p = p[2:]
				c.Args = append(c.Args, ";")
				continue
			}
			w, ok, err := word()
			if err != nil {
				return fail(c.IgnoreFailure, "%v", err)
			}
			if !ok {
				break
			}
			r, err := sp.expand(w)
			if err != nil {
				return fail(c.IgnoreFailure, "cannot resolve specifiers in %q: %v", w, err)
			}
			c.Args = append(c.Args, r)
		}
		if len(c.Args) == 0 {
			return fail(c.IgnoreFailure, "empty executable name or zeroeth argument in %q", v)
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// stringIsSafe is systemd's string_is_safe(): no control characters, quotes,
// backslashes or DEL.
func stringIsSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0 && c < ' ' || strings.IndexByte("\"'\\\x7f", c) >= 0 {
			return false
		}
	}
	return true
}

// filenameValid is systemd's filename_is_valid().
func filenameValid(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.Contains(s, "/") && len(s) <= 255
}

// pathValid is systemd's path_is_valid(): no component longer than 255
// bytes, the whole shorter than PATH_MAX.
func pathValid(s string) bool {
	if s == "" || len(s) >= 4096 {
		return false
	}
	for _, c := range strings.Split(s, "/") {
		if len(c) > 255 {
			return false
		}
	}
	return true
}

// simplifyPath is systemd's path_simplify(): repeated slashes and "."
// components go, ".." stays (it cannot be resolved without the file system).
func simplifyPath(p string) string {
	abs := strings.HasPrefix(p, "/")
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	s := strings.Join(parts, "/")
	if abs {
		return "/" + s
	}
	if s == "" {
		return "."
	}
	return s
}

// Argv is the argument vector systemd 252 runs for c with environment env
// (systemd.service(5), "Command lines"; replace_env_argv()):
//   - a word that is exactly $NAME becomes the words of NAME's value, split
//     at blanks with quotes respected and removed, so an unset or empty
//     variable yields no word at all; quoting the word in the unit file
//     changes nothing, as quotes are gone by then;
//   - ${NAME}, alone or inside a word, is replaced by the value as it is,
//     always within one word: an unset variable gives an empty string (and
//     "${NAME}" alone an empty argument);
//   - $NAME inside a longer word (x$NAME, $NAME-x) is not a variable: it
//     stays as written, except that a whole word $NAME-x is the variable
//     "NAME-x", which no environment has, and so vanishes;
//   - $$ is a literal $; ${NAME:-x} and other shell forms are left alone.
//
// With the ":" prefix the words are used as they are.
func (c Command) Argv(env []string) []string {
	if c.NoEnvExpand {
		return append([]string(nil), c.Args...)
	}
	var out []string
	for _, a := range c.Args {
		if len(a) >= 1 && a[0] == '$' && (len(a) == 1 || a[1] != '{' && a[1] != '$') {
			if v, ok := envGet(env, a[1:]); ok {
				out = append(out, splitValue(v)...)
			}
			continue
		}
		out = append(out, replaceEnv(a, env))
	}
	return out
}

// splitValue splits a variable's value into words as systemd does for a
// lone $NAME (strv_split_full() with EXTRACT_RELAX|EXTRACT_UNQUOTE): quotes
// group and are removed, a backslash takes the next character literally,
// and an unbalanced quote runs to the end.
func splitValue(v string) []string {
	var words []string
	for {
		w, rest, ok, err := extractWord(v, unquote|relax)
		if err != nil || !ok {
			return words
		}
		words = append(words, w)
		v = rest
	}
}

// replaceEnv is systemd's replace_env() without its extensions: ${NAME} is
// replaced, $$ is $, everything else stays.
func replaceEnv(s string, env []string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexAny(s[i+2:], "}:")
			if end < 0 || s[i+2+end] == ':' {
				// Unterminated, or ${NAME:-...}: not expanded; the text
				// goes on as written.
				b.WriteByte('$')
				continue
			}
			v, _ := envGet(env, s[i+2:i+2+end])
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
