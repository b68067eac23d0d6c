package unit

import (
	_ "embed"
	"strings"
)

//go:embed known.txt
var knownTxt string

// known holds "Section.Key" for every setting systemd 252 accepts in a
// service unit, so an unmodelled setting can be reported as "not emulated"
// and a misspelt one as "unknown to systemd".
var known = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(knownTxt, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
}()
