// Package epconn keeps a Unix stream socket out of the Go runtime's
// network poller, so that the peer's reads do not wake the process.
//
// The runtime registers every socket it polls for reading and writing
// alike (EPOLLIN | EPOLLOUT, edge-triggered), whether or not a goroutine
// waits to write. A Unix stream socket signals EPOLLOUT every time the
// peer reads something this end wrote (the kernel frees the data and
// calls the socket's write-space callback), so every read by the peer
// woke the thread that sleeps in the poller: it found no goroutine to
// run and slept again. Between an agent and its clients that is one
// wake-up of the agent per read of a client, and one of the sending
// client per read of its agent: at 1,000 msgs/s through the API, about
// two of the twelve process wake-ups per message on a 3-node ring, each
// landing on a CPU the message's own hops need (docs/BENCHMARKS.md,
// history, "The peer's reads woke the process").
//
// Wrap takes the socket's descriptor out of the runtime's poller and
// waits for it through two epoll sets of its own, which the runtime polls
// instead (an epoll set is readable when one of its descriptors is
// ready): one that watches the socket for input (EPOLLIN | EPOLLRDHUP),
// for good, and one that watches it for room to write (EPOLLOUT) only
// while a write waits for room. So the process wakes for data, a hang-up
// and room it waits for, and not for the peer's reads. No goroutine or
// thread waits in epoll_wait for a Conn: the sets are descriptors of the
// runtime's poller, so a waiting reader or writer parks as on a socket,
// and a Conn costs two more descriptors, nothing else.
//
// The Conn it returns is a net.Conn and a syscall.Conn whose RawConn
// waits through those sets, so that raw reads and writes on its
// descriptor (packages rawread and trywrite) work as on the socket
// itself; deadlines and Close end waits as net.Conn's do, with the same
// errors (os.ErrDeadlineExceeded, net.ErrClosed).
package epconn
