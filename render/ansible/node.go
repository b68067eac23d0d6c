package ansible

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// omap is a YAML mapping that keeps its keys in the order given: Ansible
// readers (and ansible-lint's key-order rule) expect name first, the
// module next, then its modifiers.
type omap []kv

type kv struct {
	k string
	v any
}

func (m omap) set(k string, v any) omap { return append(m, kv{k, v}) }

// get is the value of key k, nil if there is none.
func (m omap) get(k string) any {
	for _, e := range m {
		if e.k == k {
			return e.v
		}
	}
	return nil
}

// replace gives key k the value v where it is.
func (m omap) replace(k string, v any) omap {
	out := append(omap(nil), m...)
	for i, e := range out {
		if e.k == k {
			out[i].v = v
		}
	}
	return out
}

// MarshalYAML writes the keys in order.
func (m omap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	seen := map[string]bool{}
	for _, e := range m {
		// Ansible keeps the last of two equal keys, with only a warning.
		if seen[e.k] {
			return nil, fmt.Errorf("key %s twice in one mapping", e.k)
		}
		seen[e.k] = true
		var v yaml.Node
		if err := v.Encode(e.v); err != nil {
			return nil, fmt.Errorf("%s: %w", e.k, err)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: e.k}, &v)
	}
	return n, nil
}

// block is a string written as a YAML literal block, line for line, so a
// long shell command or message stays readable and within the line
// length linters allow.
type block string

func (b block) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.LiteralStyle, Value: string(b)}, nil
}

// maxLine is the longest line hagen writes into the playbook (yamllint's
// default limit, which ansible-lint applies, is 160).
const maxLine = 120

// wrapShell breaks a long shell command into lines joined by
// backslash-newline, which sh removes: at spaces outside quotes (the next
// line indented), and inside a word too long for a line at its commas (the
// next line not indented, as the word goes on there).
func wrapShell(cmd string) string {
	if len(cmd) <= maxLine || strings.Contains(cmd, "\n") {
		return cmd
	}
	var lines []string
	line := ""
	for i, w := range shellWords(cmd) {
		sep := " "
		if i == 0 {
			sep = ""
		}
		if line != "" && len(line)+len(sep)+len(w) > maxLine {
			lines = append(lines, line+" \\")
			line, sep = "  ", ""
		}
		for len(line)+len(sep)+len(w) > maxLine && strings.Contains(w, ",") {
			// Break the word after the last comma that fits.
			room := maxLine - len(line) - len(sep)
			cut := strings.LastIndex(w[:min(room, len(w))], ",")
			if cut < 0 {
				break
			}
			lines = append(lines, line+sep+w[:cut+1]+"\\")
			line, sep, w = "", "", w[cut+1:]
		}
		line += sep + w
	}
	return strings.Join(append(lines, line), "\n")
}

// shellWords splits a command at the spaces outside quotes.
func shellWords(cmd string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	for _, r := range cmd {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case quote == 0 && r == ' ':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

// wrapText breaks prose into lines of at most maxLine characters.
func wrapText(s string) string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			if line != "" && len(line)+1+len(w) > maxLine {
				out = append(out, line)
				line = w
				continue
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
