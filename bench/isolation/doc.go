// Package isolation is the isolation benchmark of issue 9: how well a
// group that lives in one site, and one that lives in two nearby sites,
// are kept from slowing down when a far site joins and a group that spans
// every site saturates the far links. It is what `atoll bench isolation`
// runs; docs/BENCHMARKS.md says how to read its table.
//
// # The world
//
// Three sites (package internal/sites): a (3 nodes), b (3 nodes, 10 ms
// RTT to a) and c (2 nodes, 200 ms RTT to a and b, with a bandwidth cap
// on those links). Each site's ring runs on a simulated LAN; the
// gateways' federation rings run over QUIC on loopback through the WAN
// emulator (internal/wanem). The topology file (Topology) is planned by
// package topology like any other, and Plan refuses to run if the planner
// does not put the groups where the benchmark needs them:
//
//	a-local      class realtime (2 ms)  site/a            site a's ring
//	ab-regional  class regional (40 ms) fed/regional:a+b  a federation ring of a and b
//	abc-global   class global (1 s)     fed/global:a+b+c  a federation ring of all three
//
// # Processes
//
// Each site runs in a process of its own, as separate hosts would: Run
// (the coordinator) sets up the world (sites.New: the plan, the
// certificates, the WAN emulator's relays, which stay in its process, and
// every gateway's endpoints), then re-executes its own binary once per
// site with ChildEnv set to the site (a binary that runs the benchmark
// calls ChildMain first thing). Each child builds the same world from the
// coordinator's sites.Spec (sites.Config.From) and starts only its site's
// agents, their members' client sessions and its gateways' QUIC
// endpoints. The coordinator drives them over a control channel: JSON
// lines (request, answer) on the child's stdin and stdout, one request
// carried out per goroutine, answers matched by id; the child's stderr
// carries its agents' logs. The coordinator cuts and heals site c on its
// relays, starts and ends the phases, has site a's process kill its
// gateway, and after each phase collects every member's events (sync)
// and the CPU each process used. A child dies with the coordinator (the
// parent-death signal on Linux; its stdin's end elsewhere), and a child
// that ends during the run ends the run with an error naming its site.
// At the end each child stops its agents and says which processes it
// killed before; the coordinator runs the EVS checker over every agent's
// trace, which the children wrote to the run's directory.
//
// With Config.OneProcess (atoll bench isolation --one-process) every
// site runs in the coordinator's process, as the benchmark did at first:
// the eight agents then share one heap, one collector and one scheduler,
// which separate hosts would not, and a burst of abc-global coming down
// is work for every site's agents in the process that runs a-local. The
// same control requests are then calls.
//
// Config.Pin (--pin) pins site a's process to CPU 0 and the others' and
// the coordinator's to CPU 1 (sched_setaffinity on every thread; threads
// started later inherit it). docs/BENCHMARKS.md says what it measured and
// why it is not the default.
//
// Config.Background (--background-others) runs sites b's and c's
// processes and the coordinator's at SCHED_IDLE and site a's at its own
// priority (sched_setattr on every thread, inherited likewise): on a
// host with fewer cores than busy processes, the far sites and the WAN
// emulator then take no CPU that site a's process wants, as on hosts of
// their own, and what is left of a-local's tail is site a's own work.
//
// # Load and measurement
//
// Every member of every group has a client session of its own (package
// client, in process) for that group, so that one group's backlog never
// waits in another group's send queue, and sends Agreed messages with
// MulticastWait at a fixed rate (a slot missed while MulticastWait waits
// is skipped, not made up). A group's senders take turns: each sends at
// its own place in every interval of the run's clock, so that the
// group's load is evenly spaced at its rate wherever the senders'
// processes are, not a burst of all of them at one instant per interval
// (firstSlot). Every payload carries its group, phase,
// sender, sequence number and send time, so every delivery at every
// member gives a latency, and the
// run knows what each member is owed. Latencies count from just before
// MulticastWait to the delivery event, both read in the process of the
// sender's or the receiver's site: the send and delivery times are
// nanoseconds since a base the coordinator passes to every process, on
// the wall clock (CLOCK_REALTIME), which every process of one host reads
// alike (a step of it during a run would show in the latencies across
// the step; the monotonic clock is not shared between processes). For
// abc-global the report also
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
// before the gateway-killed phase: every site shares the host's cores,
// so a phase's tail latency is much the host's doing at that moment, and
// two phases measured one after the other compare two moments of it. The
// report pools each phase's rounds, judges the p99 targets on the median
// of the rounds' ratios with their spread, and gives each phase's CPU
// (site a's process's, the host's, the goroutines' wait for a core, the
// collector's pauses; and each process's own) beside its latencies, and
// splits a-local's deliveries by what abc-global's members delivered
// around each send (Overlap: at site a, at b or c only, none): with
// OneProcess a burst of abc-global coming down is work for every site's
// agents at once in the process that runs a-local, where on separate
// hosts site a would do its own share only. After each phase the senders
// flush and the run waits for every member to get what it is owed:
// every message of every sender it stayed connected to (the two were
// never in views without each other during the phase), but for the ones
// the sender got in a transitional view without it. The rest is lost;
// a second delivery is duplicated. At the end the EVS checker reads every
// agent's trace. A run fails (Report.Err) on a lost or duplicated message
// or an EVS violation; the targets are reported, met or not
// (Report.Targets).
package isolation
