package pki

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/compiler/model"
)

// FormatVersion is the secrets file format this build writes. Older formats
// are upgraded on load; newer ones are refused.
//
//	1: CAs, keys, leaves, the keepalived password and the bootstrap token.
//	2: adds history, the cluster's membership (a file without it is read
//	   as a cluster bootstrapped with the spec's members).
const FormatVersion = 2

// Secrets is every private and stateful input of a cluster: the only file
// whose loss costs a cluster. It is plain YAML so that sops, age and git can
// keep it.
type Secrets struct {
	Version int    `json:"version"`
	Cluster string `json:"cluster"`
	// CAs by name: ca, front-proxy-ca, etcd-ca.
	CAs            map[string]KeyPair `json:"cas"`
	ServiceAccount ServiceAccountKey  `json:"serviceAccount"`
	// Leaves by host name, then certificate name.
	Leaves map[string]map[string]KeyPair `json:"leaves,omitempty"`
	// KeepalivedAuthPass is VRRP's shared password: 8 characters, the most
	// keepalived reads.
	KeepalivedAuthPass string `json:"keepalivedAuthPass"`
	// BootstrapToken is the kubeadm token joining hosts present.
	BootstrapToken string `json:"bootstrapToken"`
	// History is what the next render must know of the cluster's past:
	// which etcd members bootstrapped it, which were added later and how,
	// and the last render's membership. Losing it does not lose the
	// cluster, but a render of a grown cluster would then bootstrap anew.
	History *model.History `json:"history,omitempty"`

	// checked is the digest of the content ParseSecrets proved sound, so
	// Ensure need not prove it again unless someone changed it since.
	checked [sha256.Size]byte
}

// digest fingerprints every entry, in a fixed order.
func (s *Secrets) digest() [sha256.Size]byte {
	h := sha256.New()
	put := func(v string) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	put(s.Cluster)
	for _, name := range sortedKeys(s.CAs) {
		put(name)
		put(s.CAs[name].Cert)
		put(s.CAs[name].Key)
	}
	put(s.ServiceAccount.Key)
	put(s.ServiceAccount.Pub)
	for _, host := range sortedKeys(s.Leaves) {
		put(host)
		for _, name := range sortedKeys(s.Leaves[host]) {
			put(name)
			put(s.Leaves[host][name].Cert)
			put(s.Leaves[host][name].Key)
		}
	}
	put(s.KeepalivedAuthPass)
	put(s.BootstrapToken)
	if s.History != nil {
		b, _ := json.Marshal(s.History)
		put(string(b))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// KeyPair is a PEM certificate and its PEM private key.
type KeyPair struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// ServiceAccountKey signs and verifies service account tokens; every
// apiserver must hold the same one.
type ServiceAccountKey struct {
	Key string `json:"key"`
	Pub string `json:"pub"`
}

// SecretsError is a secrets file that cannot be used as it is: damaged,
// foreign or from a newer hagen. It names the file and the entry.
type SecretsError struct {
	File  string
	Entry string
	Msg   string
}

func (e *SecretsError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Entry, e.Msg)
}

var (
	versionLine      = regexp.MustCompile(`(?m)^version:[ \t]*(\S+)[ \t]*$`)
	bootstrapTokenRE = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	authPassRE       = regexp.MustCompile(`^[A-Za-z0-9]{1,8}$`)
)

// LoadSecrets reads and checks a secrets file. It returns (nil, nil) when the
// file does not exist. cluster is the spec's cluster name: a file written for
// another cluster is refused, never reused.
func LoadSecrets(path, cluster string) (*Secrets, error) {
	s, err := ReadSecrets(path)
	if err != nil || s == nil {
		return nil, err
	}
	if s.Cluster != cluster {
		return nil, &SecretsError{File: path, Entry: "cluster", Msg: fmt.Sprintf("this file belongs to cluster %q, the spec is cluster %q: pass the right --secrets file", s.Cluster, cluster)}
	}
	return s, nil
}

// ReadSecrets reads and checks a secrets file, whichever cluster's it is.
// It returns (nil, nil) when the file does not exist.
func ReadSecrets(path string) (*Secrets, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading secrets: %w", err)
	}
	return ParseSecrets(path, raw)
}

// ParseSecrets decodes and checks a secrets file's bytes: every entry must
// parse, every key must match its certificate, every leaf must chain to its
// CA. A damaged file is an error, never a reason to start over.
func ParseSecrets(path string, raw []byte) (*Secrets, error) {
	fail := func(entry, format string, args ...any) error {
		return &SecretsError{File: path, Entry: entry, Msg: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fail("", "the file is empty; it is not a hagen secrets file (delete it only if no cluster uses it: a new one means new CAs)")
	}
	// The version decides how to read the rest, so it is found before the
	// strict decode: a newer file's new fields must not be reported as
	// unknown ones.
	version, hasVersion := 0, false
	if m := versionLine.FindSubmatch(raw); m != nil {
		v, err := strconv.Atoi(string(m[1]))
		if err != nil || v < 1 {
			return nil, fail("version", "%s is not a secrets file version", m[1])
		}
		if v > FormatVersion {
			return nil, fail("version", "%d is newer than this hagen understands (%d): upgrade hagen", v, FormatVersion)
		}
		version, hasVersion = v, true
	}
	var s Secrets
	err := yaml.UnmarshalStrict(raw, &s)
	switch {
	case !hasVersion && (bytes.Contains(raw, []byte("\ncas:")) || bytes.HasPrefix(raw, []byte("# hagen secrets"))):
		// version is the last key hagen writes: a cut file loses it first.
		return nil, fail("version", "missing, and the file otherwise looks like hagen's: it is probably truncated. Restore it from backup; do not delete it (a new file means new CAs)")
	case err != nil && !hasVersion:
		return nil, fail("", "not valid YAML (%v); is the file truncated or still encrypted?", cleanYAMLError(err))
	case err != nil:
		return nil, fail("", "%v", cleanYAMLError(err))
	case !hasVersion || s.Version != version:
		return nil, fail("version", "missing: this is not a hagen secrets file")
	}
	if err := s.check(path); err != nil {
		return nil, err
	}
	s.Version = FormatVersion
	s.checked = s.digest()
	return &s, nil
}

// check proves every entry sound: each CA and leaf parses, each key is
// whole and belongs to its certificate, each leaf chains to its CA, the
// token and the password have their forms.
func (s *Secrets) check(path string) error {
	fail := func(entry, format string, args ...any) error {
		return &SecretsError{File: path, Entry: entry, Msg: fmt.Sprintf(format, args...)}
	}
	if s.Cluster == "" {
		return fail("cluster", "missing")
	}
	cas := map[string]*caMaterial{}
	for _, ca := range CAs() {
		kp, ok := s.CAs[ca.Name]
		entry := "cas." + ca.Name
		if !ok {
			return fail(entry, "missing; a CA is never regenerated while its secrets file exists. Restore the file from backup")
		}
		m, err := parseCA(kp)
		if err != nil {
			return fail(entry, "%v", err)
		}
		cas[ca.Name] = m
	}
	for name := range s.CAs {
		if _, ok := cas[name]; !ok {
			return fail("cas."+name, "unknown CA")
		}
	}
	if err := parseServiceAccount(s.ServiceAccount); err != nil {
		return fail("serviceAccount", "%v", err)
	}
	if !authPassRE.MatchString(s.KeepalivedAuthPass) {
		return fail("keepalivedAuthPass", "want 1 to 8 letters or digits (keepalived reads no more than 8)")
	}
	if !bootstrapTokenRE.MatchString(s.BootstrapToken) {
		return fail("bootstrapToken", "want a kubeadm token, [a-z0-9]{6}.[a-z0-9]{16}")
	}
	if err := checkHistory(s.History); err != nil {
		return fail("history", "%v", err)
	}
	specs := map[string]CertSpec{}
	for _, c := range Certs() {
		specs[c.Name] = c
	}
	for _, host := range sortedKeys(s.Leaves) {
		for _, name := range sortedKeys(s.Leaves[host]) {
			entry := "leaves." + host + "." + name
			spec, ok := specs[name]
			if !ok {
				return fail(entry, "unknown certificate")
			}
			if _, err := parseLeaf(s.Leaves[host][name], cas[spec.CA]); err != nil {
				return fail(entry, "%v", err)
			}
		}
	}
	return nil
}

// checkHistory proves a history whole: a damaged one would plan a wrong
// membership change.
func checkHistory(h *model.History) error {
	if h == nil {
		return nil
	}
	if h.Init == "" {
		return errors.New("init: missing")
	}
	if len(h.Members) == 0 {
		return errors.New("etcdMembers: missing")
	}
	for _, m := range []*model.Membership{&h.Membership, h.Before} {
		if m == nil {
			continue
		}
		for i, x := range m.ControlPlane {
			if x.Name == "" || !validAddr(x.Address) {
				return fmt.Errorf("controlPlane[%d]: want a name and an address", i)
			}
		}
		for i, x := range m.Members {
			u, err := url.Parse(x.PeerURL)
			if x.Name == "" || err != nil || u.Scheme != "https" || u.Port() == "" {
				return fmt.Errorf("etcdMembers[%d]: want a name and an https peer URL", i)
			}
		}
	}
	// A member's initial cluster names it: the flags of its first start.
	// Its peer URL there may be an older one (a member whose address
	// moved keeps the flags it was started with).
	for i, x := range h.Members {
		if !slices.ContainsFunc(strings.Split(x.InitialCluster, ","), func(e string) bool {
			name, _, _ := strings.Cut(e, "=")
			return name == x.Name
		}) {
			return fmt.Errorf("etcdMembers[%d]: initialCluster %q lacks the member itself", i, x.InitialCluster)
		}
	}
	return nil
}

func validAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// Marshal renders the file. Keys are sorted, so equal secrets give equal
// bytes.
func (s *Secrets) Marshal() ([]byte, error) {
	body, err := yaml.Marshal(s)
	if err != nil {
		return nil, err
	}
	header := "# hagen secrets: every CA, key and certificate of cluster " + s.Cluster + ".\n" +
		"# Keep it safe and backed up (sops or age can encrypt it): losing it means\n" +
		"# new CAs, and every node then has to be re-joined.\n"
	return append([]byte(header), body...), nil
}

// cleanYAMLError drops the library's prefixes from a YAML error.
func cleanYAMLError(err error) string {
	msg := err.Error()
	for _, p := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: while decoding JSON: ", "yaml: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteFileAtomic writes data to path through a temp file in the same
// directory: fsync, rename, fsync the directory. A crash leaves either the
// old file or the new one, never a torn one.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
