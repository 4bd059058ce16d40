package localring

import "github.com/atoll-gcs/atoll/internal/slab"

// The node's slab (Node.slab, package internal/slab) holds the bytes a
// node keeps per packet: the copies of the packets it receives (Step),
// the packets it sends (sendNew), the tokens it passes (passToken) and
// the messages it joins from their fragments (reassembly.join). It
// carves them out of chunks of slabChunk bytes, one allocation per chunk
// instead of one per packet: at full load with 1 KiB messages through a
// ring of three that was, per message and all nodes together, two of
// every three allocations and most of the bytes (BenchmarkOrdering,
// TestOrderingAllocs).
//
// Every slice it hands out has its length as its capacity, so nothing
// appended to one runs into the next, and no byte of a chunk is handed out
// twice: what Message.Payload promises (the node never reuses or writes
// the memory a payload points into) holds. A chunk lives as long as
// anything carved from it, so an application that keeps a delivered
// payload keeps its chunk; a slice of more than slabChunk/4 bytes gets an
// allocation of its own, so that a large message kept does not hold a
// chunk much larger than itself.
const slabChunk = 32 << 10

// slabAlone is the largest slice the slab carves from a chunk.
const slabAlone = slabChunk / 4

// newSlab returns a node's slab.
func newSlab() slab.Slab { return slab.New(slabChunk, slabAlone) }
