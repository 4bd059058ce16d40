//go:build !unix

package trywrite

// write writes nothing where descriptors are not Unix ones; callers fall
// back to their writer.
func write(fd uintptr, b []byte) (int, error) { return 0, nil }

// rawWrites: write writes (Supported can be true).
const rawWrites = false
