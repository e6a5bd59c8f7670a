package store

import (
	"errors"
	"fmt"
	"os"
)

// CheckWritableDir creates dir when missing and proves a file can be written
// there, so a bad data dir fails at start with its path in the message.
func CheckWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data dir %s cannot be created: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := probe.Name()
	_ = probe.Close()
	return os.Remove(name)
}
