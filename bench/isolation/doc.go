// Package isolation is the isolation benchmark of issue 9: how well a
// group that lives in one site, and one that lives in two nearby sites,
// are kept from slowing down when a far site joins and a group that spans
// every site saturates the far links. It is what `atoll bench isolation`
// runs; docs/BENCHMARKS.md says how to read its table.
//
// # The world
//
// Three sites in one process (package internal/sites): a (3 nodes), b
// (3 nodes, 10 ms RTT to a) and c (2 nodes, 200 ms RTT to a and b, with a
// bandwidth cap on those links). Each site's ring runs on a simulated
// LAN; the gateways' federation rings run over QUIC on loopback through
// the WAN emulator (internal/wanem). The topology file (Topology) is
// planned by package topology like any other, and Plan refuses to run if
// the planner does not put the groups where the benchmark needs them:
//
//	a-local      class realtime (2 ms)  site/a            site a's ring
//	ab-regional  class regional (40 ms) fed/regional:a+b  a federation ring of a and b
//	abc-global   class global (1 s)     fed/global:a+b+c  a federation ring of all three
//
// # Load and measurement
//
// Every member of every group has a client session of its own (package
// client, in process) for that group, so that one group's backlog never
// waits in another group's send queue, and sends Agreed messages with
// MulticastWait at a fixed rate (a slot missed while MulticastWait waits
// is skipped, not made up). Every payload carries its group, phase,
// sender, sequence number and send time (one process, one monotonic
// clock), so every delivery at every member gives a latency, and the
// run knows what each member is owed. Latencies count from just before
// MulticastWait to the delivery event; for abc-global the report also
// gives the median over messages of the time to the last member, the
// planner's definition of agreed latency, to hold against its
// prediction.
//
// # Phases
//
// C detached (c cut off the WAN; a-local and ab-regional loaded), C
// attached (abc-global at a light load too), C attached and saturating
// (abc-global offered Saturation times the cap from each of a and b), and
// gateway killed (as attached; site a's active gateway of abc-global is
// crashed a third into the measured part). The first three run
// Config.Rounds times in turn (default 3, each measured Duration/Rounds)
// before the gateway-killed phase: every site shares this process and the
// host's cores, so a phase's tail latency is much the host's doing at
// that moment, and two phases measured one after the other compare two
// moments of it. The report pools each phase's rounds, judges the p99
// targets on the median of the rounds' ratios with their spread, and
// gives each phase's CPU (this process's, the host's, the goroutines'
// wait for a core, the collector's pauses) beside its latencies, and
// splits a-local's deliveries by what abc-global's members delivered
// around each send (Overlap: at site a, at b or c only, none): a burst
// of abc-global coming down is work for every site's agents at once in
// this process, where on separate hosts site a would do its own share
// only. After each phase the senders
// flush and the run waits for every member to get what it is owed:
// every message of every sender it stayed connected to (the two were
// never in views without each other during the phase). The rest is lost;
// a second delivery is duplicated. At the end the EVS checker reads every
// agent's trace. A run fails (Report.Err) on a lost or duplicated message
// or an EVS violation; the targets are reported, met or not
// (Report.Targets).
package isolation
