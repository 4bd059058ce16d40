// Package netns holds Atoll's multi-host tests: real `atoll agent`
// processes in Linux network namespaces joined by a bridge, with real
// multicast, killed, paused, cut off, partitioned and restarted, their
// traces judged by the EVS checker (package evs) after every scenario.
//
// The tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN to make namespaces)
// and the programs ip (Debian package iproute2) and nft (nftables); without
// them they skip and say why. Run them with
//
//	go test ./tests/netns/                 # as root, about a minute
//	go test -v ./tests/netns/ -run Kill    # shows the measured failover time
//	ATOLL_NETNS_KEEP=/tmp/k go test ./tests/netns/  # keep logs and traces in /tmp/k/<test>
//
// # The testbed
//
// Each test makes its own namespaces, named atl<random>-hub and
// atl<random>-<node>, so that runs never collide: a hub namespace holds a
// Linux bridge (multicast snooping off, so multicast floods to every
// port), and each node's namespace holds one end of a veth pair (eth0,
// 10.99.0.<i>/24, multicast on) whose other end is a port of the bridge.
// The agents run as `ip netns exec <ns> atoll agent`, which execs the
// agent in place, so the process the test holds is the agent itself:
// kill -9, SIGSTOP and SIGCONT reach it directly. t.Cleanup kills what is
// left and deletes the namespaces, also when a test fails.
//
// Faults: kill -9 (Kill), pause and resume (Pause, Resume), a node's link
// cut and healed (ip link set down/up on its bridge port: Cut, Uncut), a
// partition of the bridge into groups that cannot hear each other (nft
// rules on the bridge's forward hook: Partition, Heal), one direction
// dropped (an nft input rule in the receiver's namespace: DropFrom, Heal),
// and restarts (Restart: a new process, hence a new incarnation, on the
// same data dir and trace file).
//
// # What every scenario checks
//
// The agents generate their own load (`atoll agent --load-rate`, changed
// through the admin socket's PUT /load). When a scenario ends healed, the
// harness stops the load, waits until every live agent is operational in
// one ring of exactly the live nodes with nothing left to send, and then
// runs evs.CheckConverged and evs.Check with Quiescent on the traces so
// far. Then it stops every agent gracefully (SIGTERM), reads the complete
// traces and runs evs.Check again with the processes it killed as failed.
package netns
