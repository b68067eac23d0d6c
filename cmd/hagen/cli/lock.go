package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// lockWait bounds how long render waits for another render of the same
// secrets file.
const lockWait = 60 * time.Second

// lockSecrets takes an exclusive lock beside the secrets file, so that two
// renders never issue two different CAs for one cluster. The lock file stays;
// the lock dies with the process, even on SIGKILL.
func lockSecrets(secretsPath string) (unlock func(), err error) {
	path := secretsPath + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("locking secrets: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking secrets: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			if err == unix.EWOULDBLOCK {
				return nil, fmt.Errorf("another hagen render holds %s for over %s; try again when it has finished", path, lockWait)
			}
			return nil, fmt.Errorf("locking secrets: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
