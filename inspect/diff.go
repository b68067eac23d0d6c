package inspect

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hagen/hagen/pki"
)

// MaxDiffLines bounds the changed lines a report shows per text file.
const MaxDiffLines = 20

// Change is what happened to a file or host between two bundles.
type Change string

const (
	Added   Change = "+"
	Removed Change = "-"
	Changed Change = "~"
)

// Report is what changes per host between two bundles, sorted so that the
// same two bundles always print the same report.
type Report struct {
	Old, New string
	// Notes are bundle-wide changes outside any file: the cluster name,
	// the manifest's apply steps.
	Notes []string
	// Membership says what NEW changes of the running cluster's control
	// plane and etcd membership, in words (MANIFEST.json's
	// membership.change), when its members differ from OLD's.
	Membership []string
	// Hosts holds every host added, removed or with a changed file, by name.
	Hosts []HostDiff
	// Files are the bundle-level files (RUNBOOK.md, cluster/...) that differ.
	Files []FileDiff
}

// HostDiff is one host's changes.
type HostDiff struct {
	Name    string
	Change  Change
	Address string   // the new address; the old one for a removed host
	Roles   []string // likewise
	Notes   []string // address or roles changed
	Files   []FileDiff
	// NumFiles is how many files an added or removed host has.
	NumFiles int
}

// FileDiff is one file's change. Path is the target path on the host, or
// the path in the bundle for bundle-level files.
type FileDiff struct {
	Path   string
	Change Change
	Mode   string // an added or removed file's mode
	Owner  string
	// What lists what differs in a changed file: "content", "mode 0644 ->
	// 0600", "owner root -> etcd".
	What []string
	// Details explain a content change: certificate fields, or changed
	// lines of a text file. Keys and secret files never show their content.
	Details []string
}

// Empty reports whether the two bundles are the same.
func (r *Report) Empty() bool {
	return len(r.Notes) == 0 && len(r.Membership) == 0 && len(r.Hosts) == 0 && len(r.Files) == 0
}

// Diff compares the bundles in oldDir and newDir, each read through its
// MANIFEST.json: which hosts and files were added or removed, and for each
// changed file what changed in it.
func Diff(oldDir, newDir string) (*Report, error) {
	a, err := load(oldDir)
	if err != nil {
		return nil, err
	}
	b, err := load(newDir)
	if err != nil {
		return nil, err
	}
	r := &Report{Old: oldDir, New: newDir}
	if a.m.Cluster != b.m.Cluster {
		r.Notes = append(r.Notes, fmt.Sprintf("cluster %s -> %s", a.m.Cluster, b.m.Cluster))
	}
	if a.m.Version != b.m.Version {
		r.Notes = append(r.Notes, fmt.Sprintf("manifest version %d -> %d", a.m.Version, b.m.Version))
	}
	if !reflect.DeepEqual(a.m.Steps, b.m.Steps) {
		r.Notes = append(r.Notes, "apply steps in MANIFEST.json changed (see RUNBOOK.md)")
	}
	am, bm := a.m.Membership, b.m.Membership
	// Version 1 manifests do not say.
	if a.m.Version >= 2 && b.m.Version >= 2 && (!slices.Equal(am.ControlPlane, bm.ControlPlane) || !slices.Equal(am.EtcdMembers, bm.EtcdMembers)) {
		r.Membership = bm.Change
		if len(r.Membership) == 0 {
			// Two bundles of two clusters, or NEW rendered without OLD's
			// history: no change was planned.
			r.Membership = []string{fmt.Sprintf("control plane %s -> %s, etcd members %s -> %s, but NEW plans no change of a running cluster: was it rendered with OLD's secrets file?",
				orNone(am.ControlPlane), orNone(bm.ControlPlane), orNone(am.EtcdMembers), orNone(bm.EtcdMembers))}
		}
	}
	names := slices.Concat(a.hosts, b.hosts)
	sort.Strings(names)
	for _, h := range slices.Compact(names) {
		oh, inOld := a.m.Hosts[h]
		nh, inNew := b.m.Hosts[h]
		switch {
		case !inNew:
			r.Hosts = append(r.Hosts, HostDiff{Name: h, Change: Removed, Address: oh.Address, Roles: oh.Roles, NumFiles: len(oh.Files)})
		case !inOld:
			r.Hosts = append(r.Hosts, HostDiff{Name: h, Change: Added, Address: nh.Address, Roles: nh.Roles, NumFiles: len(nh.Files)})
		default:
			hd := HostDiff{Name: h, Change: Changed, Address: nh.Address, Roles: nh.Roles, NumFiles: len(nh.Files)}
			if oh.Address != nh.Address {
				hd.Notes = append(hd.Notes, fmt.Sprintf("address %s -> %s", oh.Address, nh.Address))
			}
			if !slices.Equal(oh.Roles, nh.Roles) {
				hd.Notes = append(hd.Notes, fmt.Sprintf("roles %s -> %s", strings.Join(oh.Roles, ","), strings.Join(nh.Roles, ",")))
			}
			hd.Files = diffEntries(a, b, a.byHost[h], b.byHost[h])
			if len(hd.Notes) > 0 || len(hd.Files) > 0 {
				r.Hosts = append(r.Hosts, hd)
			}
		}
	}
	r.Files = diffEntries(a, b, bundleEntries(a), bundleEntries(b))
	return r, nil
}

func bundleEntries(l *loaded) []entry {
	var out []entry
	for _, e := range l.entries {
		if e.Host == "" {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// diffEntries compares two lists of one host's (or the bundle's) files.
func diffEntries(a, b *loaded, old, cur []entry) []FileDiff {
	byPath := map[string]entry{}
	for _, e := range old {
		byPath[e.Path] = e
	}
	seen := map[string]bool{}
	var out []FileDiff
	for _, n := range cur {
		seen[n.Path] = true
		o, ok := byPath[n.Path]
		if !ok {
			out = append(out, FileDiff{Path: n.Path, Change: Added, Mode: n.Mode, Owner: n.Owner})
			continue
		}
		fd := FileDiff{Path: n.Path, Change: Changed}
		if o.SHA256 != n.SHA256 {
			fd.What = append(fd.What, "content")
			fd.Details = contentDetails(o, n, readEntry(a, o), readEntry(b, n))
		}
		if o.Mode != n.Mode {
			fd.What = append(fd.What, fmt.Sprintf("mode %s -> %s", o.Mode, n.Mode))
		}
		if o.Owner != n.Owner {
			fd.What = append(fd.What, fmt.Sprintf("owner %s -> %s", o.Owner, n.Owner))
		}
		if len(fd.What) > 0 {
			out = append(out, fd)
		}
	}
	for _, o := range old {
		if !seen[o.Path] {
			out = append(out, FileDiff{Path: o.Path, Change: Removed, Mode: o.Mode, Owner: o.Owner})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// readEntry returns a file's bytes if they are on disk as the manifest
// says; details are best effort, the manifest's digests decide.
func readEntry(l *loaded, e entry) []byte {
	data, err := os.ReadFile(diskPath(l.dir, e.Rel))
	if err != nil {
		return nil
	}
	return data
}

// contentDetails explains how a file's content changed, without ever
// printing a secret.
func contentDetails(o, n entry, old, cur []byte) []string {
	if old == nil || cur == nil {
		return []string{"(content not readable on disk; digests differ)"}
	}
	switch {
	case isKey(n.Path):
		return []string{"new private key"}
	case strings.HasSuffix(n.Path, pki.CertExt):
		oc, err1 := pki.ParseCert(string(old))
		nc, err2 := pki.ParseCert(string(cur))
		if err1 == nil && err2 == nil {
			return certDetails(oc, nc)
		}
	}
	if !isText(old) || !isText(cur) {
		return []string{"binary content changed"}
	}
	ol, nl := splitLines(old), splitLines(cur)
	ops := lineDiff(ol, nl)
	added, removed := 0, 0
	for _, op := range ops {
		switch op.kind {
		case '+':
			added++
		case '-':
			removed++
		}
	}
	summary := fmt.Sprintf("%d %s added, %d removed", added, lines(added), removed)
	if o.Perm&0o077 == 0 || n.Perm&0o077 == 0 {
		// A secret file (keepalived's auth_pass, kubeadm's token): counts only.
		return []string{summary + " (lines not shown: the file is secret)"}
	}
	return append([]string{summary}, hunks(ops, MaxDiffLines)...)
}

func lines(n int) string {
	if n == 1 {
		return "line"
	}
	return "lines"
}

func isText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// certDetails names each field that differs between two certificates.
func certDetails(o, n *x509.Certificate) []string {
	var out []string
	if o.Subject.CommonName != n.Subject.CommonName {
		out = append(out, fmt.Sprintf("subject CN %q -> %q", o.Subject.CommonName, n.Subject.CommonName))
	}
	if !slices.Equal(o.Subject.Organization, n.Subject.Organization) {
		out = append(out, fmt.Sprintf("subject O [%s] -> [%s]", strings.Join(o.Subject.Organization, ", "), strings.Join(n.Subject.Organization, ", ")))
	}
	if d := diffSets(sans(o), sans(n)); d != "" {
		out = append(out, "SANs "+d)
	}
	if !o.NotBefore.Equal(n.NotBefore) {
		out = append(out, fmt.Sprintf("not before %s -> %s", stamp(o.NotBefore), stamp(n.NotBefore)))
	}
	if !o.NotAfter.Equal(n.NotAfter) {
		out = append(out, fmt.Sprintf("not after %s -> %s", stamp(o.NotAfter), stamp(n.NotAfter)))
	}
	switch {
	case !bytes.Equal(o.RawIssuer, n.RawIssuer):
		out = append(out, fmt.Sprintf("issuer %q -> %q", o.Issuer.String(), n.Issuer.String()))
	case !bytes.Equal(o.AuthorityKeyId, n.AuthorityKeyId):
		out = append(out, fmt.Sprintf("issuer %q: same name, another CA key (authority key id %x -> %x)", n.Issuer.String(), o.AuthorityKeyId, n.AuthorityKeyId))
	}
	if o.IsCA != n.IsCA {
		out = append(out, fmt.Sprintf("CA %t -> %t", o.IsCA, n.IsCA))
	}
	if d := diffSets(usages(o), usages(n)); d != "" {
		out = append(out, "usages "+d)
	}
	if ao, an := pki.AlgorithmOf(o.PublicKey), pki.AlgorithmOf(n.PublicKey); ao != an {
		out = append(out, fmt.Sprintf("key algorithm %s -> %s", ao, an))
	}
	if !bytes.Equal(o.RawSubjectPublicKeyInfo, n.RawSubjectPublicKeyInfo) {
		out = append(out, "public key changed (new key pair)")
	}
	if o.SerialNumber.Cmp(n.SerialNumber) != 0 {
		out = append(out, fmt.Sprintf("serial %s -> %s", shortSerial(o), shortSerial(n)))
	}
	if len(out) == 0 {
		out = append(out, "same fields, different signature or encoding")
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format(time.DateTime) }

func shortSerial(c *x509.Certificate) string {
	s := c.SerialNumber.Text(16)
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func sans(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap().String())
		}
	}
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return append(out, c.EmailAddresses...)
}

func usages(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.ExtKeyUsage {
		out = append(out, usageName(u))
	}
	return out
}

// diffSets is "+added -removed", sorted, or "" for equal sets.
func diffSets(old, cur []string) string {
	in := func(list []string, s string) bool { return slices.Contains(list, s) }
	var parts []string
	add := slices.Sorted(slices.Values(cur))
	for _, s := range slices.Compact(add) {
		if !in(old, s) {
			parts = append(parts, "+"+s)
		}
	}
	del := slices.Sorted(slices.Values(old))
	for _, s := range slices.Compact(del) {
		if !in(cur, s) {
			parts = append(parts, "-"+s)
		}
	}
	return strings.Join(parts, " ")
}

// Write prints the report, one section per host, then the bundle-level
// files. An empty report prints nothing, like diff(1).
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "bundle: %s\n", n)
	}
	if len(r.Membership) > 0 {
		b.WriteString("membership:\n")
		for _, l := range r.Membership {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	for _, h := range r.Hosts {
		switch h.Change {
		case Added, Removed:
			verb := "added"
			if h.Change == Removed {
				verb = "removed"
			}
			fmt.Fprintf(&b, "host %s: %s (%s, %s, %d files)\n", h.Name, verb, strings.Join(h.Roles, ","), h.Address, h.NumFiles)
			continue
		}
		fmt.Fprintf(&b, "host %s:\n", h.Name)
		for _, n := range h.Notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
		writeFiles(&b, h.Files)
	}
	if len(r.Files) > 0 {
		b.WriteString("bundle files:\n")
		writeFiles(&b, r.Files)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ",")
}

func writeFiles(b *strings.Builder, files []FileDiff) {
	for _, f := range files {
		switch f.Change {
		case Added, Removed:
			fmt.Fprintf(b, "  %s %s (%s %s)\n", f.Change, f.Path, f.Mode, f.Owner)
		default:
			fmt.Fprintf(b, "  %s %s: %s\n", f.Change, f.Path, strings.Join(f.What, ", "))
			for _, d := range f.Details {
				fmt.Fprintf(b, "      %s\n", d)
			}
		}
	}
}

// op is one line of an edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind     byte
	line     string
	old, new int // 0-based line numbers in old and new
}

// maxDiffCells bounds the quadratic line diff; past it the middle of the
// file is shown as replaced wholesale.
const maxDiffCells = 4 << 20

// lineDiff is a longest-common-subsequence edit script from a to b. Config
// files are short; the common head and tail are trimmed first.
func lineDiff(a, b []string) []op {
	var ops []op
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		ops = append(ops, op{' ', a[pre], pre, pre})
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	n, m := len(ma), len(mb)
	if (n+1)*(m+1) > maxDiffCells {
		for i, l := range ma {
			ops = append(ops, op{'-', l, pre + i, pre})
		}
		for j, l := range mb {
			ops = append(ops, op{'+', l, pre + n, pre + j})
		}
	} else {
		// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
		lcs := make([][]int, n+1)
		for i := range lcs {
			lcs[i] = make([]int, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				ops = append(ops, op{' ', ma[i], pre + i, pre + j})
				i++
				j++
			case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
				ops = append(ops, op{'-', ma[i], pre + i, pre + j})
				i++
			default:
				ops = append(ops, op{'+', mb[j], pre + i, pre + j})
				j++
			}
		}
	}
	for k := suf; k > 0; k-- {
		ops = append(ops, op{' ', a[len(a)-k], len(a) - k, len(b) - k})
	}
	return ops
}

// hunks renders ops as a unified diff without context (diff -U0), at most
// limit changed lines.
func hunks(ops []op, limit int) []string {
	var out []string
	shown, total := 0, 0
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		j := i
		dels, adds := 0, 0
		for j < len(ops) && ops[j].kind != ' ' {
			if ops[j].kind == '-' {
				dels++
			} else {
				adds++
			}
			j++
		}
		total += dels + adds
		if shown < limit {
			out = append(out, fmt.Sprintf("@@ -%s +%s @@", span(ops[i].old, dels), span(ops[i].new, adds)))
			for _, o := range ops[i:j] {
				if shown == limit {
					break
				}
				out = append(out, string(o.kind)+o.line)
				shown++
			}
		}
		i = j
	}
	if total > shown {
		out = append(out, fmt.Sprintf("... %d more changed %s", total-shown, lines(total-shown)))
	}
	return out
}

// span is a unified diff range: 1-based start and count; an empty range
// names the line before it.
func span(start, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if count == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}
