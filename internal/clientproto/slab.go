package clientproto

// SlabBytes is the size of the blocks into which the agent and the client
// copy the payloads of the frames they read, many to a block (their
// copyPayload): the largest object the Go allocator serves from its
// per-thread caches, 32 KiB less the 8 bytes it keeps for an object
// header (runtime.mallocgc: up to maxSmallSize-mallocHeaderSize, also for
// objects without pointers). A block of exactly 32 KiB (the client's
// before), or of 64 KiB (the agent's), is a large object: each one takes
// the heap's lock and a span of its own, and is swept and freed on its
// own; in a receiving client at full load that was 7 % of its CPU
// (runtime.mallocgcLarge and the lock).
const SlabBytes = 32<<10 - 8
