package unit

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
	"syscall"
)

// specifiers resolves systemd's % specifiers (systemd.unit(5),
// "Specifiers") for one unit of the system manager. Facts about the unit
// come from its name and fragment; facts systemd reads from files
// (/etc/machine-id, /etc/os-release, /etc/machine-info) are read under the
// root; facts systemd asks the kernel for (hostname, boot ID, kernel
// release) come from the running kernel, as they would on the host.
type specifiers struct {
	root     string
	name     string // the unit's name, e.g. "getty@tty1.service"
	fragment string // the fragment's path as found, for %y and %Y
}

// expand is systemd's specifier_printf(): %% is %, a known specifier is
// replaced, an unknown one is an error, and a % at the very end stays.
func (sp *specifiers) expand(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			b.WriteByte('%')
			break
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, err := sp.lookup(s[i])
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func (sp *specifiers) lookup(c byte) (string, error) {
	prefix, instance, suffix := splitUnitName(sp.name)
	switch c {
	case 'n':
		return sp.name, nil
	case 'N':
		return strings.TrimSuffix(sp.name, suffix), nil
	case 'p':
		return prefix, nil
	case 'P':
		return unescapeUnitName(prefix), nil
	case 'i':
		return instance, nil
	case 'I':
		return unescapeUnitName(instance), nil
	case 'j', 'J':
		j := prefix
		if k := strings.LastIndexByte(prefix, '-'); k >= 0 {
			j = prefix[k+1:]
		}
		if c == 'J' {
			j = unescapeUnitName(j)
		}
		return j, nil
	case 'f':
		if strings.Contains(sp.name, "@") {
			return "/" + strings.TrimPrefix(unescapePath(instance), "/"), nil
		}
		return "/" + strings.TrimPrefix(unescapePath(prefix), "/"), nil
	case 'y':
		if sp.fragment == "" {
			return "", fmt.Errorf("%%y: the unit has no fragment")
		}
		return sp.fragment, nil
	case 'Y':
		if sp.fragment == "" {
			return "", fmt.Errorf("%%Y: the unit has no fragment")
		}
		return path.Dir(sp.fragment), nil
	// The system manager's directories and user (systemd.unit(5)).
	case 't':
		return "/run", nil
	case 'S':
		return "/var/lib", nil
	case 'C':
		return "/var/cache", nil
	case 'L':
		return "/var/log", nil
	case 'E':
		return "/etc", nil
	case 'T':
		return "/tmp", nil
	case 'V':
		return "/var/tmp", nil
	case 'h':
		return "/root", nil
	case 's':
		return "/bin/sh", nil
	case 'u', 'g':
		return "root", nil
	case 'U', 'G':
		return "0", nil
	case 'H', 'l':
		h, err := os.Hostname()
		if err != nil {
			return "", err
		}
		if c == 'l' {
			h, _, _ = strings.Cut(h, ".")
		}
		return h, nil
	case 'q':
		if v := sp.shellVar("/etc/machine-info", "PRETTY_HOSTNAME"); v != "" {
			return v, nil
		}
		return sp.lookup('l')
	case 'm':
		b, err := os.ReadFile(path.Join(sp.root, "etc/machine-id"))
		if err != nil {
			return "", fmt.Errorf("%%m: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case 'b':
		b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err != nil {
			return "", fmt.Errorf("%%b: %w", err)
		}
		return strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""), nil
	case 'v':
		var u syscall.Utsname
		if err := syscall.Uname(&u); err != nil {
			return "", err
		}
		var r []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			r = append(r, byte(c))
		}
		return string(r), nil
	case 'a':
		return architecture(), nil
	case 'o', 'w', 'W', 'B', 'A', 'M':
		field := map[byte]string{'o': "ID", 'w': "VERSION_ID", 'W': "VARIANT_ID", 'B': "BUILD_ID", 'A': "IMAGE_VERSION", 'M': "IMAGE_ID"}[c]
		if v := sp.shellVar("/etc/os-release", field); v != "" {
			return v, nil
		}
		return sp.shellVar("/usr/lib/os-release", field), nil
	}
	return "", fmt.Errorf("unknown specifier %%%c", c)
}

// shellVar is variable k of an os-release style file under the root, "" if
// the file or the variable is missing.
func (sp *specifiers) shellVar(file, k string) string {
	b, err := os.ReadFile(path.Join(sp.root, file))
	if err != nil {
		return ""
	}
	env, err := ParseEnvFile(b)
	if err != nil {
		return ""
	}
	v, _ := envGet(env, k)
	return v
}

// architecture is systemd's name for the machine's architecture (%a,
// ConditionArchitecture=).
func architecture() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86-64"
	case "386":
		return "x86"
	case "arm64":
		return "arm64"
	case "arm":
		return "arm"
	case "ppc64le":
		return "ppc64-le"
	case "ppc64":
		return "ppc64"
	case "riscv64":
		return "riscv64"
	case "s390x":
		return "s390x"
	case "loong64":
		return "loongarch64"
	}
	return runtime.GOARCH
}

// unitTypes are the suffixes of systemd's unit types.
var unitTypes = []string{".service", ".socket", ".target", ".device", ".mount", ".automount", ".swap", ".timer", ".path", ".slice", ".scope"}

// splitUnitName splits "foo@bar.service" into "foo", "bar" and ".service".
// A name without @ has an empty instance; its prefix is the name without
// the suffix.
func splitUnitName(name string) (prefix, instance, suffix string) {
	for _, t := range unitTypes {
		if strings.HasSuffix(name, t) {
			suffix = t
			break
		}
	}
	base := strings.TrimSuffix(name, suffix)
	prefix, instance, _ = strings.Cut(base, "@")
	return prefix, instance, suffix
}

// validUnitName reports whether name is a unit name systemd accepts: a
// known type suffix, and letters, digits and ":-_.\@" before it, with at
// most one @ (systemd's unit_name_is_valid()).
func validUnitName(name string) bool {
	prefix, instance, suffix := splitUnitName(name)
	if suffix == "" || prefix == "" || len(name) > 255 {
		return false
	}
	ok := func(s string) bool {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte(":-_.\\", c) >= 0) {
				return false
			}
		}
		return true
	}
	return ok(prefix) && ok(instance) && strings.Count(name, "@") <= 1
}

// unescapeUnitName undoes systemd's unit name escaping (systemd-escape):
// \xNN is a byte and - is /.
func unescapeUnitName(s string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '-':
			b.WriteByte('/')
		case s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' && unhex(s[i+2]) >= 0 && unhex(s[i+3]) >= 0:
			b.WriteByte(byte(unhex(s[i+2])<<4 | unhex(s[i+3])))
			i += 3
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// unescapePath is unescapeUnitName for a path ("-" alone is the root).
func unescapePath(s string) string {
	if s == "-" {
		return "/"
	}
	return unescapeUnitName(s)
}
