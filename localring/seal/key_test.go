package seal_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring/seal"
)

func TestKeyFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoll.key")
	k := seal.GenerateKey()
	if err := seal.WriteKeyFile(path, k, false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	got, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != k {
		t.Fatal("loaded key differs from the written one")
	}
	data, _ := os.ReadFile(path)
	if want := "atoll-key-v1\n" + hex.EncodeToString(k[:]) + "\n"; string(data) != want {
		t.Fatalf("key file = %q, want %q", data, want)
	}
}

func TestWriteKeyFileRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atoll.key")
	first := seal.GenerateKey()
	if err := seal.WriteKeyFile(path, first, false); err != nil {
		t.Fatal(err)
	}
	err := seal.WriteKeyFile(path, seal.GenerateKey(), false)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want fs.ErrExist", err)
	}
	if got, _ := seal.LoadKeyFile(path); got != first {
		t.Fatal("refused write changed the file")
	}
	second := seal.GenerateKey()
	if err := seal.WriteKeyFile(path, second, true); err != nil {
		t.Fatal(err)
	}
	if got, err := seal.LoadKeyFile(path); err != nil || got != second {
		t.Fatalf("after overwrite: %v, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("overwritten key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	k := seal.GenerateKey()
	valid := string(k.MarshalFile())
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"group readable", valid, 0o640, "chmod 600"},
		{"world readable", valid, 0o644, "chmod 600"},
		{"short key", "atoll-key-v1\n" + hex.EncodeToString(k[:16]) + "\n", 0o600, "16-byte key, want 32"},
		{"long key", "atoll-key-v1\n" + hex.EncodeToString(append(k[:], 1)) + "\n", 0o600, "33-byte key"},
		{"no header", hex.EncodeToString(k[:]) + "\n", 0o600, "not an atoll key file"},
		{"empty", "", 0o600, "empty"},
		{"header only", "atoll-key-v1\n", 0o600, "no key line"},
		{"two keys", valid + hex.EncodeToString(k[:]) + "\n", 0o600, "more than one key line"},
		{"garbage", "atoll-key-v1\nnot a key!\n", 0o600, "neither hex nor base64"},
		{"zero key", "atoll-key-v1\n" + strings.Repeat("00", 32) + "\n", 0o600, "all-zero"},
		{"too large", "atoll-key-v1\n" + strings.Repeat("#\n", 3000), 0o600, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask
				t.Fatal(err)
			}
			_, err := seal.LoadKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "seal: ") {
				t.Fatalf("LoadKeyFile = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := seal.LoadKeyFile(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "atoll keygen") {
			t.Fatalf("LoadKeyFile = %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		os.Chmod(dir, 0o700)
		if _, err := seal.LoadKeyFile(dir); err == nil || !strings.Contains(err.Error(), "directory") {
			t.Fatalf("LoadKeyFile(dir) = %v", err)
		}
	})
}

func TestParseKeyFormats(t *testing.T) {
	k := seal.GenerateKey()
	for name, line := range map[string]string{
		"hex":           hex.EncodeToString(k[:]),
		"HEX":           strings.ToUpper(hex.EncodeToString(k[:])),
		"base64":        base64.StdEncoding.EncodeToString(k[:]),
		"base64 raw":    base64.RawStdEncoding.EncodeToString(k[:]),
		"base64 url":    base64.URLEncoding.EncodeToString(k[:]),
		"with comments": "# made by hand\n\n" + hex.EncodeToString(k[:]) + "\r",
	} {
		got, err := seal.ParseKey([]byte("atoll-key-v1\n" + line + "\n"))
		if err != nil || got != k {
			t.Errorf("%s: ParseKey = %v, %v", name, got, err)
		}
	}
}

func TestKeyNeverFormatted(t *testing.T) {
	k := seal.GenerateKey()
	secret := hex.EncodeToString(k[:])
	for _, verb := range []string{"%v", "%s", "%x", "%X", "%q", "%#v", "%+v"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(strings.ToLower(out), secret[:16]) || strings.Contains(out, base64.StdEncoding.EncodeToString(k[:])[:12]) {
			t.Errorf("fmt %s leaks the key: %s", verb, out)
		}
	}
	cfg := seal.Config{Key: k}
	if out := fmt.Sprintf("%+v", cfg); strings.Contains(out, secret[:16]) {
		t.Errorf("fmt %%+v of a Config leaks the key: %s", out)
	}
	if !strings.Contains(k.String(), fmt.Sprintf("%08x", k.ID())) {
		t.Errorf("String() = %q, want the key id %08x", k.String(), k.ID())
	}
}

func TestKeyID(t *testing.T) {
	a, b := seal.GenerateKey(), seal.GenerateKey()
	if a.ID() == b.ID() {
		t.Fatalf("two random keys share id %08x", a.ID())
	}
	// The id goes in every packet header: it must not change from one
	// version to the next. HKDF-SHA-256 of key 00 01 … 1f (salt "atoll
	// seal v1", info "atoll key id"), computed apart from this package.
	var k seal.Key
	for i := range k {
		k[i] = byte(i)
	}
	if got := k.ID(); got != 0x5ed84c47 {
		t.Fatalf("ID of key 00 01 … 1f = %08x, want 5ed84c47", got)
	}
}

func TestSenderID(t *testing.T) {
	// The first 8 bytes of SHA-256("a"), as sha256sum prints them.
	if got := seal.SenderID("a"); got != 0xca978112ca1bbdca {
		t.Fatalf("SenderID(\"a\") = %016x, want ca978112ca1bbdca", got)
	}
	if seal.SenderID("a") == seal.SenderID("b") || seal.SenderID("") == 0 {
		t.Fatal("SenderID is not a non-zero hash that tells ids apart")
	}
}

func TestNextIncarnation(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	first := seal.NextIncarnation(0, now)
	if first != uint64(now.UnixMicro()) {
		t.Fatalf("first incarnation %d, want the clock in microseconds %d", first, now.UnixMicro())
	}
	// Restart within the same microsecond, or with a clock that stepped back.
	if got := seal.NextIncarnation(first, now.Add(-time.Hour)); got != first+1 {
		t.Fatalf("clock stepped back: %d, want %d", got, first+1)
	}
	if got := seal.NextIncarnation(first, now.Add(time.Second)); got != first+uint64(time.Second/time.Microsecond) {
		t.Fatalf("clock moved on: %d", got)
	}
	if got := seal.NextIncarnation(41, time.Unix(0, 0)); got != 42 {
		t.Fatalf("clock at the epoch: %d, want 42", got)
	}
	// A nanosecond incarnation of an earlier version keeps growing.
	legacy := uint64(now.UnixNano())
	if got := seal.NextIncarnation(legacy, now.Add(time.Hour)); got != legacy+1 {
		t.Fatalf("after a nanosecond incarnation: %d, want %d", got, legacy+1)
	}
	if seal.ExactIncarnation(legacy) || !seal.ExactIncarnation(first) {
		t.Fatalf("ExactIncarnation(%d) or ExactIncarnation(%d) wrong", legacy, first)
	}
	// Exact for 53-bit readers until 2255.
	if inc := seal.NextIncarnation(0, time.Date(2255, 1, 1, 0, 0, 0, 0, time.UTC)); !seal.ExactIncarnation(inc) || uint64(float64(inc)) != inc {
		t.Fatalf("incarnation in 2255: %d not exact", inc)
	}
	if inc := seal.NextIncarnation(0, time.Date(2256, 1, 1, 0, 0, 0, 0, time.UTC)); seal.ExactIncarnation(inc) {
		t.Fatalf("incarnation in 2256: %d still below 2^53; the documented bound is wrong", inc)
	}
}
