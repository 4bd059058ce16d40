// Package wanem emulates wide-area network paths in user space, for tests,
// the demo and benchmarks on machines without netem: a UDP relay that
// stands between two endpoints and gives each direction of the path a
// one-way delay, jitter, random and burst loss, reordering, duplication, a
// bandwidth cap with a bounded queue, and cuts, all changeable while packets
// flow. QUIC runs over UDP, so a federation's gateways reach each other
// through it by dialling the relay's address instead of the peer's.
//
// # Use
//
// A path with a 200 ms round-trip time to a server at addr is one call;
// the client sends to r.Addr() instead of addr:
//
//	r, err := wanem.Pipe(addr, wanem.RTT(200*time.Millisecond))
//	...
//	r.Forward().Set(wanem.Params{Delay: 100 * time.Millisecond, Loss: 0.01}) // 1 % loss one way
//	r.Cut()  // both directions
//	r.Heal()
//
// Like a NAT, a relay gives each sender its own socket toward the target,
// so a restarted gateway on a new port, or a standby beside a paused
// gateway, has a path of its own through the same links. New takes a
// Config with different conditions each way. Between N sites,
// NewMesh starts a relay per ordered pair of sites: site a dials
// m.Addr("a", "b") to reach b, m.ApplyTopology gives the paths the RTTs
// and bandwidths a topology file declares, and m.SetPath, m.Cut, m.Isolate
// change them. Params can also be written as a spec
// ("rtt=200ms loss=1% rate=10mbit", see ParseParams), which is what the
// `atoll relay` command takes on its command line; its control socket
// (Control) changes a running relay from another process, e.g. to cut and
// heal a path between network namespaces:
//
//	atoll relay --listen 10.0.1.1:7000 --target 10.0.2.2:7000 --link rtt=200ms --control /run/ab.sock &
//	atoll relay ctl /run/ab.sock cut all
//	atoll relay ctl /run/ab.sock set forward loss=1%
//
// and `atoll relay mesh` runs a Mesh as one process, its links named
// "a:b", so that `atoll relay ctl SOCK cut 'c:*,*:c'` isolates site c.
//
// # Model
//
// Each direction of a path is a Link. A packet entering a link that is cut
// is dropped; otherwise the burst model (Gilbert-Elliott) steps and may
// drop it, then random loss may; a survivor may get a duplicate. Each copy
// is then serialised behind the bandwidth cap (BitsPerSec), waiting in a
// queue of QueueBytes, tail-dropped when full; it leaves the cap, gets
// Delay plus a uniform draw of ±Jitter (never overtaking the copy before
// it), or is held back by ReorderDelay so that later packets overtake it,
// and is written out when due unless the link is cut by then. Stats counts
// packets in and out and drops by cause.
//
// # Accuracy
//
// Each link has one goroutine that sleeps until its earliest packet is due
// and writes every due packet with one sendmmsg; each relay socket has one
// goroutine reading with recvmmsg. Times come from the monotonic clock; on
// Linux the scheduler sleeps on a timerfd, since Go's runtime timers wake
// an idle process up to 1 ms late, and each datagram's delay and place
// behind the cap count from its kernel receive timestamp, so a reader
// that was descheduled for a while does not add its stall to the delay or
// bunch the datagrams up in front of the cap. Stats.Late records how late
// the scheduler handed each packet to the socket.
//
// The benchmarks measure what the relay delivers against what it is set
// to (go test -run '^$' -bench . -benchtime 20000x ./internal/wanem). On
// the 2-core development machine, shared by a load average of 11 to 17, a
// 10 ms one-way delay at 10,000 datagrams per second came out with a
// median excess of 60-130 µs end to end (two loopback hops included); the
// p99 there is the machine's, not the relay's: whenever the process is
// descheduled for tens of milliseconds, every datagram due meanwhile is
// late by the rest of the stall. Loss, duplication, reordering and the
// bandwidth cap hit their settings within the statistical spread.
package wanem
