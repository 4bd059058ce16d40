package agent

import (
	"bufio"
	"fmt"
	"os"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/tracemap"
	"github.com/atoll-gcs/atoll/localring"
)

// tracer appends a node's installs, sends and deliveries to its --trace
// file in the format of docs/EVS.md. The group loop writes the events it
// took and then calls flush; the driver sends no packet that carries a new
// message of the node before that message's send line is flushed
// (traceSends), so a trace cut by kill -9 ends in a state the node really
// was in (it may end before events the ring had produced, never without
// the send of a message the others could deliver).
//
// Lines are never split between two writes to the file (a line that does
// not fit in the buffer's free space flushes the buffer first), so a trace
// cut by kill -9 ends with a whole line.
type tracer struct {
	f    *os.File
	buf  *bufio.Writer
	line []byte
	proc tracemap.Proc
	err  error // the first write error; tracing stops after it
}

func openTrace(path, node string, inc uint64, domain string) (*tracer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("agent: trace file: %w", err)
	}
	return &tracer{f: f, buf: bufio.NewWriterSize(f, 64<<10), proc: tracemap.Proc{Node: node, Inc: inc, Domain: domain}}, nil
}

// record writes the trace line of a ring event, if it has one
// (package tracemap decides).
func (t *tracer) record(e localring.Event) {
	if t.err != nil {
		return
	}
	te, ok := t.proc.Ring(&e)
	if !ok {
		return
	}
	t.write(te)
}

// write appends one trace line.
func (t *tracer) write(te evs.Event) {
	if t.err != nil {
		return
	}
	t.line = append(te.AppendJSON(t.line[:0]), '\n') // the encoding of evs.Writer
	if t.buf.Available() < len(t.line) && t.buf.Buffered() > 0 {
		if t.err = t.buf.Flush(); t.err != nil {
			return
		}
	}
	_, t.err = t.buf.Write(t.line)
}

// flush writes the buffered lines to the file.
func (t *tracer) flush() error {
	if t.err == nil && t.buf.Buffered() > 0 {
		t.err = t.buf.Flush()
	}
	return t.err
}

func (t *tracer) close() error {
	err := t.flush()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}
