// Package securefile writes secrets (cluster keys, private keys) to files
// that only their owner can read: mode 0600, synced to disk, never
// replacing an existing file unless asked to, and then atomically.
package securefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with mode 0600, synced to disk. Unless
// overwrite is set it refuses an existing file with an error that wraps
// fs.ErrExist. With overwrite it replaces the file atomically (a
// temporary file in the same directory, then rename), so a crash leaves
// either the old file or the new one, and the new one is never readable
// by others, not even for a moment.
func Write(path string, data []byte, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("securefile: %s already exists: %w", path, err)
			}
			return fmt.Errorf("securefile: create %s: %w", path, err)
		}
		if err := writeSync(f, data); err != nil {
			os.Remove(path)
			return fmt.Errorf("securefile: write %s: %w", path, err)
		}
		return nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".atoll-secret-*")
	if err != nil {
		return fmt.Errorf("securefile: create a file in %s: %w", dir, err)
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("securefile: chmod %s: %w", tmp, err)
	}
	if err := writeSync(f, data); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("securefile: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("securefile: replace %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// writeSync writes data to f, syncs and closes it.
func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
