// Package seal protects the packets of a local ring: it authenticates them,
// encrypts them, and rejects replays, before the ring core sees a byte.
//
// A Sealer wraps each packet the core produces with a fixed header and an
// AEAD tag (Seal), and checks and unwraps each packet that arrives (Open).
// Every node of a ring holds the same 32-byte key, made once by
// `atoll keygen` and copied to every node (LoadKeyFile). The package has no
// goroutines and reads no clock; the driver passes time in where it matters
// (Limiter).
//
// # Driving it
//
//	key, err := seal.LoadKeyFile("/etc/atoll/atoll.key")
//	s, err := seal.New(seal.Config{
//		Key:         key,                      // Mode: encrypt and Suite: AES-256-GCM by default
//		Cluster:     "prod",                   // from the topology file
//		ConfigHash:  ringConfigHash,           // same ring settings on every node
//		Sender:      seal.SenderID(nodeID),
//		Incarnation: inc,                      // grows on every start; see below
//	})
//	// send: pack the core's payload to maxPacket - s.Overhead() bytes
//	pkt = s.Seal(pkt[:0], payload)
//	// receive: decrypt in place, no allocation
//	payload, from, err := s.OpenInPlace(buf[:n])
//	if err != nil {
//		// counted in s.Stats(); log one line per peer per interval
//		if limiter.Allow(srcAddr, now) {
//			log.Warn(s.Diagnose(buf[:n], err))
//		}
//		continue
//	}
//
// # Modes
//
// ModeEncrypt (the default, the zero Mode) encrypts and authenticates the
// payload and authenticates the header. ModeAuth authenticates header and
// payload but sends the payload in the clear, for networks where
// confidentiality is not needed and an operator wants to read packets with
// tcpdump. ModeNone adds only the header: anyone who can reach the ring's
// port can read, forge and inject packets. It exists for benchmarks and
// isolated test networks, must be chosen explicitly (the zero Mode is
// ModeEncrypt), refuses a key, and Sealer.Warning returns a line the agent
// must log at start.
//
// ModeAuth uses the same AEAD as ModeEncrypt with an empty plaintext and the
// whole packet as additional data (GMAC for AES-256-GCM, Poly1305 for
// ChaCha20-Poly1305), rather than HMAC-SHA256. Both are sound MACs here
// because the nonce never repeats (below); the AEAD is several times faster
// than HMAC-SHA256 on hardware with AES or vector instructions, keeps the
// 16-byte tag and a single code path and key schedule for both modes, and
// lets one Suite setting describe the whole cluster.
//
// # Wire format
//
// Every packet is a 48-byte header, the payload, and (for ModeAuth and
// ModeEncrypt) a 16-byte tag. Integers are big-endian.
//
//	off len field
//	  0   1 version        1; anything else is ErrVersion
//	  1   1 mode           0 none, 1 auth, 2 encrypt
//	  2   1 suite          0 none, 1 AES-256-GCM, 2 ChaCha20-Poly1305
//	  3   1 reserved       0
//	  4   4 key id         Key.ID of the sender's key (0 in mode none)
//	  8   4 cluster hash   first 4 bytes of SHA-256(cluster name)
//	 12   8 config hash    Config.ConfigHash
//	 20   4 key epoch      Config.Epoch
//	 24   8 sender         Config.Sender
//	 32   8 incarnation    Config.Incarnation
//	 40   8 counter        1, 2, 3, ... per sender incarnation
//	 48   n payload        ciphertext in ModeEncrypt
//	48+n 16 tag            over header and payload
//
// The whole header is additional data of the AEAD, so no field can be
// changed without failing authentication. Open reads only this fixed-size
// header before it authenticates: it rejects packets of another version,
// mode, suite, cluster, configuration, key epoch or key id by comparing
// fields (cheap, no cryptography, and the reason is known exactly), checks
// the replay window, then authenticates, and only then hands the payload
// to the caller. The core's decoder never sees an unauthenticated byte.
//
// # Keys and nonces
//
// HKDF-SHA256 (RFC 5869) extracts a pseudorandom key from the key file and
// expands it, for every sender incarnation, into the AEAD key of that
// sender:
//
//	K(sender, inc) = HKDF-Expand(PRK, "atoll seal v1 packet key" ||
//	                 mode || suite || cluster name || config hash ||
//	                 key epoch || sender || inc)
//
// so that packets of another cluster, ring configuration, key epoch or mode
// can never authenticate even if the cheap header checks were skipped.
// The 96-bit AEAD nonce is the last 12 bytes of the header (the low 32 bits
// of the incarnation and the 64-bit counter). The nonce cannot hold sender,
// incarnation and counter in 96 bits, so sender and incarnation select the
// key instead: what must never repeat is the (key, nonce) pair, and it does
// not, because each (sender, incarnation) has its own key and its counter
// only grows (a sender panics rather than wrap 2^64).
//
// That argument holds only if the caller keeps two promises:
//
//   - Sender is unique within the cluster. SenderID hashes the ring's node
//     id (unique by construction) to 64 bits.
//   - Incarnation never repeats for a Sender and grows across restarts of
//     the node. Persist the last incarnation and fsync it before the first
//     Seal; NextIncarnation(prev, now) returns max(prev+1, now in
//     microseconds), which also survives a lost state file as long as the
//     clock did not step back by more than the node was down. Two
//     processes must never run with the same Sender and Incarnation: that
//     reuses nonces, and for AES-GCM a reused nonce leaks the
//     authentication key.
//
// Open accepts a higher incarnation of a known sender (the sender
// restarted) once a packet of it authenticates, and from then on rejects
// the older incarnation as a replay.
//
// # Replay window
//
// Each sender has a sliding window of ReplayWindow (1024) counters: a
// packet whose counter was already accepted, or is ReplayWindow or more
// below the highest accepted one, is rejected (ErrReplay, ErrTooOld).
// Reordering within the window is accepted. The window lives in memory: a
// receiver that restarts accepts each recorded packet of the current
// incarnations once more; the ring core discards packets of rings it is
// not part of, and a key epoch change ends that exposure for good.
//
// All holders of the key are trusted alike: the sender field separates
// nonce spaces and replay windows, it does not prove which key holder sent
// a packet.
//
// # Errors and counters
//
// Open returns one of the sentinel errors (ErrTruncated, ErrVersion,
// ErrCluster, ErrConfig, ErrEpoch, ErrMode, ErrWrongKey, ErrAuth,
// ErrReplay, ErrTooOld, ErrStaleIncarnation). Each is an *Error whose Kind
// says how to count it; the sentinels do not allocate, so a flood of bad
// packets costs no garbage. Sealer.Stats returns the counts by kind, and
// Sealer.Diagnose turns a rejected packet and its error into the one line an
// operator needs (which peer, which field, ours versus theirs, the fix).
// Use a Limiter to print that line at most once per peer per interval.
//
// # Rotating the key
//
// A Sealer holds one key and one epoch. To rotate, write the new key file
// on every node and restart each with Epoch+1; nodes on different epochs
// reject each other (ErrEpoch) until all have moved, so rotate during a
// maintenance window or run a second ring.
//
// # Concurrency and allocation
//
// Seal, Open, OpenInPlace and Stats are safe for concurrent use. Seal and
// Open append to dst and allocate nothing once dst has room and every
// sender has been seen; the first packet of a new sender incarnation
// derives its key (a few microseconds and some allocations).
package seal
