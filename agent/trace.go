package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
)

// tracer appends a node's installs, sends and deliveries to its --trace
// file in the format of docs/EVS.md. The loop writes a pass's events and then calls
// flush, before it sends that pass's packets: the file never lags behind
// what the network has seen of the node, so a trace cut by kill -9 ends in
// a state the node really was in.
//
// Lines are never split between two writes to the file (a line that does
// not fit in the buffer's free space flushes the buffer first), so a trace
// cut by kill -9 ends with a whole line.
type tracer struct {
	f    *os.File
	buf  *bufio.Writer
	line []byte
	base evs.Event // Node, Inc and Domain
	err  error     // the first write error; tracing stops after it
}

func openTrace(path, node string, inc uint64, domain string) (*tracer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("agent: trace file: %w", err)
	}
	return &tracer{f: f, buf: bufio.NewWriterSize(f, 64<<10), base: evs.Event{Node: node, Inc: inc, Domain: domain}}, nil
}

// record writes the trace line of e, if e has one.
func (t *tracer) record(e localring.Event) {
	if t.err != nil {
		return
	}
	te, ok := traceEvent(t.base, e)
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
	b, err := json.Marshal(te) // the encoding of evs.Writer
	if err != nil {
		t.err = fmt.Errorf("agent: encode trace event: %w", err)
		return
	}
	t.line = append(append(t.line[:0], b...), '\n')
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

// traceEvent maps a ring event to its trace line, as the simulator does
// (localring/sim): installs become install lines, sends and deliveries
// become send and deliver lines with the payload's hash and, for Agreed
// and Safe deliveries, the total-order position. Protocol notices (token
// lost, gather) have no trace line.
func traceEvent(base evs.Event, e localring.Event) (evs.Event, bool) {
	switch e.Kind {
	case localring.EventInstall:
		base.Ev = evs.EvInstall
		base.Conf = &evs.Conf{ID: e.Conf.ID, Kind: e.Conf.Kind.String(), Members: e.Conf.MemberIDs()}
		base.ConfID = e.Conf.ID
	case localring.EventSend, localring.EventDeliver:
		base.Ev = evs.EvSend
		if e.Kind == localring.EventDeliver {
			base.Ev = evs.EvDeliver
			if e.Msg.Svc >= localring.Agreed {
				base.Order = e.Msg.Order
			}
		}
		base.ConfID = e.Msg.Conf
		base.Msg = e.Msg.ID.String()
		base.Svc = e.Msg.Svc.String()
		base.Hash = payloadHash(e.Msg.Payload)
	default:
		return evs.Event{}, false
	}
	return base, true
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// payloadHash is the trace's hash of a payload: CRC-32C and length, the
// simulator's hash, so traces of agents and of the simulator compare.
func payloadHash(b []byte) string {
	return strconv.FormatUint(uint64(crc32.Checksum(b, castagnoli))<<32|uint64(uint32(len(b))), 16)
}
