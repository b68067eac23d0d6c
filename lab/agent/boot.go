package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlaid are the machine's directories each host sees copy-on-write: it
// reads the packages installed on the machine (keepalived, haproxy, curl)
// and keeps what it writes (the bundle, kubeadm's files, etcd's data) to
// itself. /tmp and the lab's own directories stay shared.
var Overlaid = []string{"/etc", "/var", "/usr", "/opt"}

// rootHome is root's home on a freshly installed Debian machine: the
// shell start-up files of base-files, nothing of the lab machine's own
// /root (a pyenv or a module cache, which would run for every SSH command
// or be seen by every host).
var rootHome = map[string]string{
	".bashrc":  "/usr/share/base-files/dot.bashrc",
	".profile": "/usr/share/base-files/dot.profile",
}

// Config is how the lab starts an agent.
type Config struct {
	Host string // the hostname
	// State is the host's directory in the lab's state: the overlays'
	// upper layers, logs and the agent's socket live below it.
	State string
	// Sysctls are written in the host's network namespace at boot.
	Sysctls map[string]string
	// Installing is the boot that installs the machine: none of the
	// units its disk has enabled starts (the lab machine's own, which
	// the install then clears, never run on a fresh node).
	Installing bool
}

// Socket is the agent socket's path below a host's state directory.
func Socket(state string) string { return filepath.Join(state, "agent.sock") }

// mountRootHome mounts the host's own /root, made on its first boot from
// base-files' start-up files, kept on its disk below State.
func mountRootHome(c Config) error {
	home := filepath.Join(c.State, "root", "root-home")
	if _, err := os.Stat(home); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(home, 0o700); err != nil {
			return err
		}
		for name, src := range rootHome {
			data, err := os.ReadFile(src)
			if err != nil {
				return fmt.Errorf("root's %s: %w", name, err)
			}
			if err := os.WriteFile(filepath.Join(home, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	if err := unix.Mount(home, "/root", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on /root: %w", home, err)
	}
	return nil
}

// boot gives the host its filesystem and hostname. It runs as PID 1 of a
// fresh PID, mount and UTS namespace, in the host's network namespace.
func boot(c Config) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	for _, dir := range Overlaid {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			continue
		}
		base := filepath.Join(c.State, "root", strings.TrimPrefix(dir, "/"))
		upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		opts := "lowerdir=" + dir + ",upperdir=" + upper + ",workdir=" + work
		if err := unix.Mount("overlay", dir, "overlay", 0, opts); err != nil {
			return fmt.Errorf("overlay on %s: %w", dir, err)
		}
	}
	if err := mountRootHome(c); err != nil {
		return err
	}
	// A machine boots with an empty /run.
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /run: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(HostSocket), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(Socket(c.State), HostSocket); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(c.Host)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	for k, v := range c.Sysctls {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", k, err)
		}
	}
	return nil
}

// pidfile records the agent's PID as the machine sees it, so that the lab
// can end a host it started even from a second run.
func pidfile(state string) string { return filepath.Join(state, "agent.pid") }

func readPID(state string) (int, error) {
	b, err := os.ReadFile(pidfile(state))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
