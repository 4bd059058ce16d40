package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"time"

	"golang.org/x/crypto/hkdf"

	"github.com/atoll-gcs/atoll/internal/securefile"
)

// KeySize is the length in bytes of the cluster key.
const KeySize = 32

// keyFileHeader is the first line of every key file.
const keyFileHeader = "atoll-key-v1"

// maxKeyFileBytes bounds what LoadKeyFile reads; a real key file is about
// 80 bytes.
const maxKeyFileBytes = 4096

// Key is the cluster's shared secret: the same 32 random bytes on every node.
// Its String method never prints the secret, only the key id.
type Key [KeySize]byte

// GenerateKey returns a new random key from crypto/rand.
func GenerateKey() Key {
	var k Key
	rand.Read(k[:]) // never fails since Go 1.24; the runtime aborts instead
	return k
}

// IsZero reports whether k is all zeros, i.e. not set.
func (k Key) IsZero() bool { return k == Key{} }

// ID returns the key id: 32 bits derived one-way from the key. Nodes print
// it (`atoll keygen`, `atoll status`) and put it in every packet header, so
// that two nodes with different key files are told apart from a corrupted
// packet. It reveals nothing about the key.
func (k Key) ID() uint32 {
	var id [4]byte
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, k.prk(), []byte("atoll key id")), id[:]); err != nil {
		panic("seal: hkdf: " + err.Error()) // cannot happen: 4 bytes ≪ 255×32
	}
	return binary.BigEndian.Uint32(id[:])
}

// prk is the HKDF pseudorandom key extracted from the key file.
func (k Key) prk() []byte {
	return hkdf.Extract(sha256.New, k[:], []byte("atoll seal v1"))
}

// String returns "key id XXXXXXXX"; the secret is never formatted.
func (k Key) String() string {
	if k.IsZero() {
		return "key (unset)"
	}
	return fmt.Sprintf("key id %08x", k.ID())
}

// GoString is like String, so %#v cannot leak the key either.
func (k Key) GoString() string { return "seal.Key(" + k.String() + ")" }

// MarshalFile returns the contents of a key file for k: a header line and
// the key in hex.
//
//	atoll-key-v1
//	5f0c…(64 hex digits)
func (k Key) MarshalFile() []byte {
	b := make([]byte, 0, len(keyFileHeader)+1+2*KeySize+1)
	b = append(b, keyFileHeader...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, k[:])
	return append(b, '\n')
}

// ParseKey reads the contents of a key file: the header line "atoll-key-v1",
// then one line with the 32-byte key in hex (64 digits) or standard base64.
// Blank lines and lines starting with '#' are ignored.
func ParseKey(data []byte) (Key, error) {
	var k Key
	var header bool
	var material []byte
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0 || line[0] == '#':
			continue
		case !header:
			if string(line) != keyFileHeader {
				return k, fmt.Errorf("seal: not an atoll key file: first line is %.40q, want %q; make one with `atoll keygen -o FILE`", line, keyFileHeader)
			}
			header = true
		case material != nil:
			return k, errors.New("seal: key file holds more than one key line; keep exactly one (made by `atoll keygen`)")
		default:
			material = line
		}
	}
	if !header {
		return k, fmt.Errorf("seal: key file is empty; make one with `atoll keygen -o FILE`")
	}
	if material == nil {
		return k, fmt.Errorf("seal: key file has the header but no key line; make a new one with `atoll keygen -o FILE --force`")
	}
	raw, err := decodeKeyMaterial(material)
	if err != nil {
		return k, err
	}
	if len(raw) != KeySize {
		return k, fmt.Errorf("seal: key file holds a %d-byte key, want %d bytes (%d hex digits); make a new one with `atoll keygen -o FILE --force`", len(raw), KeySize, 2*KeySize)
	}
	copy(k[:], raw)
	if k.IsZero() {
		return Key{}, errors.New("seal: key file holds an all-zero key; make a random one with `atoll keygen -o FILE --force`")
	}
	return k, nil
}

func decodeKeyMaterial(s []byte) ([]byte, error) {
	if raw, err := hex.DecodeString(string(s)); err == nil {
		return raw, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(string(s)); err == nil {
			return raw, nil
		}
	}
	return nil, errors.New("seal: key line is neither hex nor base64; make a new key file with `atoll keygen -o FILE --force`")
}

// LoadKeyFile reads and checks a key file. It refuses a file that others
// than its owner may read or write (the fix is `chmod 600 FILE`), a file
// that is not a regular file, and a key of the wrong length.
func LoadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Key{}, fmt.Errorf("seal: key file %s does not exist; make it with `atoll keygen -o %s` and copy it to every node: %w", path, path, err)
		}
		return Key{}, fmt.Errorf("seal: open key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("seal: key file %s is a %s, not a regular file", path, fileKind(fi.Mode()))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return Key{}, fmt.Errorf("seal: key file %s has mode %04o, so users other than its owner can read or change it; run `chmod 600 %s` (and consider the key exposed if others could read it)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return Key{}, fmt.Errorf("seal: read key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileBytes {
		return Key{}, fmt.Errorf("seal: key file %s is larger than %d bytes; is it the right file? (a key file is about 80 bytes)", path, maxKeyFileBytes)
	}
	k, err := ParseKey(data)
	if err != nil {
		return Key{}, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// WriteKeyFile writes k to path with mode 0600, synced to disk. Unless
// overwrite is set it refuses an existing file with an error that wraps
// fs.ErrExist: replacing a cluster key shuts this node out of the ring
// until every node has the new key. With overwrite it replaces the file
// atomically (a temporary file in the same directory, then rename).
func WriteKeyFile(path string, k Key, overwrite bool) error {
	if k.IsZero() {
		return errors.New("seal: refusing to write an all-zero key")
	}
	if err := securefile.Write(path, k.MarshalFile(), overwrite); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("seal: key file %s already exists; refusing to overwrite it, since every node must hold the same key: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("seal: key file: %w", err)
	}
	return nil
}

// SenderID maps a ring node id to the 64-bit sender id of the packet
// header: the first 8 bytes of SHA-256 of the id. Distinct node ids collide
// with probability about n²/2⁶⁵ for n nodes, negligible for any real
// cluster. It never returns 0.
func SenderID(nodeID string) uint64 {
	sum := sha256.Sum256([]byte(nodeID))
	if id := binary.BigEndian.Uint64(sum[:8]); id != 0 {
		return id
	}
	return 1
}

// NextIncarnation returns the incarnation for a node starting now, given
// the last one it persisted (0 if none): max(prev+1, now in Unix
// microseconds). The driver must persist the result, and fsync it, before
// the first Seal. Taking the clock into account keeps incarnations growing
// even when the state file is lost, provided the clock has not stepped back
// by more than the time the node was down.
//
// Microseconds keep incarnations below MaxExactIncarnation (2^53 - 1)
// until the year 2255, so traces and JSON status output, which write them
// as numbers, stay exact for readers with 53-bit numbers (jq, JavaScript).
// Earlier versions counted nanoseconds (about 1.8e18 in 2026); a node
// whose persisted incarnation is such a value keeps counting up from it
// (incarnations must grow), and ExactIncarnation reports false for it.
func NextIncarnation(prev uint64, now time.Time) uint64 {
	next := prev + 1
	if us := now.UnixMicro(); us > 0 && uint64(us) > next {
		next = uint64(us)
	}
	if next == 0 { // prev was the maximum
		panic("seal: incarnation space exhausted")
	}
	return next
}

// MaxExactIncarnation is the largest incarnation a reader with 53-bit
// numbers reads exactly.
const MaxExactIncarnation = 1<<53 - 1

// ExactIncarnation reports whether inc is at most MaxExactIncarnation. An
// agent whose incarnation is not (a nanosecond incarnation of an earlier
// version) says so at start with the way back: stop every agent of the
// cluster, set the incarnation in each state file to 0, start them again.
// Stopping them all first matters: a running peer rejects a lower
// incarnation of a sender it has heard (ErrStaleIncarnation).
func ExactIncarnation(inc uint64) bool { return inc <= MaxExactIncarnation }
