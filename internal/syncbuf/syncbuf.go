// Package syncbuf provides a byte buffer safe for concurrent writers and
// readers: the sink of a logger or of a child process's output that a
// test or a harness reads while it is still being written; and Writer, a
// writer behind a mutex, for several processes' output copied to one
// sink.
package syncbuf

import (
	"bytes"
	"io"
	"sync"
)

// Buffer is a bytes.Buffer behind a mutex. The zero value is an empty
// buffer ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Writer serialises the writes to W: the zero value with W set is ready
// to use.
type Writer struct {
	mu sync.Mutex
	W  io.Writer
}

// Write writes p to W.
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
