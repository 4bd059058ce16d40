// Package transport carries a federation ring's packets between the active
// gateways of its sites over QUIC. It implements driver.Transport with the
// sites as ring member ids: a federation ring's members are sites, and the
// gateway speaking for a site is whichever of its gateway-eligible nodes
// holds a connection.
//
// Guarantees:
//
//   - One connection per peer site (and, with Config.Stripes, that many
//     minus one stripes to the same gateway; see "Stripes"). The site
//     whose name sorts first dials,
//     trying the peer's gateway endpoints in order with backoff, and dials
//     again when the connection ends; a newer connection of a site replaces
//     the older one (a restarted or standby gateway), and the gateway so
//     replaced waits RedialMax before dialing again, so two gateways of
//     one site that both act as active do not flap (fencing one of them
//     is the ring's job). Keep-alives (Config.KeepAlive) run below the idle
//     timeout, so a quiet ring keeps its connections. A site that sorts
//     before a site's new gateway holds its connection to the old
//     gateway, which, killed, would last until the idle timeout (unless
//     the same gateway restarts on its port: its stateless reset ends it
//     at once). So a gateway that takes over announces itself
//     (Config.Announce; the gateway runner always sets it): it dials once
//     every site that dials it, which takes that connection in place of
//     its own and dials again only once it ends. And when the ring hears
//     of the new gateway's incarnation (from a third site), the gateway
//     runner has the transport drop a connection to another gateway of
//     that site and dial the new one (Redial).
//   - TLS 1.3 with mutual authentication against the cluster CA
//     (`atoll certs`, package internal/pki). The peer's identity — cluster,
//     site and gateway node id — comes from its certificate's
//     atoll://CLUSTER/SITE/NODE URI SAN and must name a gateway-eligible
//     node of a site of the ring (Peers builds the list from the topology),
//     never from its address. In ModeUDP a ring packet that arrives
//     outside QUIC is taken only if it was sealed with the keys exported
//     from the TLS session of a live connection: from the peer that
//     connection authenticated, whatever address it came from.
//   - The ALPN protocol name carries the protocol version, the transport
//     mode and the ring's configuration hash (ALPN), so gateways started
//     with different configurations refuse each other.
//   - Every refusal — unknown CA, expired certificate, wrong identity,
//     ALPN mismatch — is one log line naming the cause and what to do, and
//     is counted in Stats.Refused.
//   - Send never blocks: packets go to bounded per-peer queues drained by
//     the connection's writers; a full queue drops (the ring retransmits).
//     A message packet identical to one still in the peer's queue is not
//     queued again (Stats.SendDuplicates): the token, which no message
//     delays, overtakes a queue of up to the driver's MaxBacklogBytes (about
//     4 s at 1 Mbit/s with the default 512 KiB), and the ring asks again,
//     once a rotation, for packets that only wait in it. The gateway
//     runner keeps that bound to two rotations of the domain's slowest
//     declared link (federation.BacklogBytes, at least 64 KiB), since
//     the other gateways send such packets again too.
//     The ring's control packets (tokens, membership) have a queue of
//     their own, served first, and in stream mode a stream of their own
//     (the regular tokens as DATAGRAMs, see "Tokens"), so a backlog of
//     messages neither drops nor delays them. Backlog
//     reports the message bytes queued (driver.BacklogReporter): the
//     driver bounds the ring's sending by it, so the queues hold what the
//     connections carry and do not overflow.
//
// # Use
//
// A gateway of site fra in federation domain d of the plan p of topology
// file f, with the files `atoll certs` made:
//
//	cert, _ := pki.LoadCertificate("certs/fra-1.crt", "certs/fra-1.key")
//	roots, _ := pki.LoadRoots("certs/ca.crt")
//	t, err := transport.New(transport.Config{
//		Certificate: cert,
//		Roots:       roots,
//		Peers:       transport.Peers(f, p, d, "fra"),
//		ConfigHash:  p.ConfigHash(d),
//		Listen:      ":7400", // the port of p.GatewayEndpoint(f, d.Name, "fra-1")
//	})
//	// t is the driver.Transport of the ring node localring.NodeID("fra"),
//	// whose MaxPacketBytes must not exceed t.MaxPacket().
//
// Ring packets travel length-prefixed on streams (ModeStreams, what
// ModeDefault means to New: control packets on the bidirectional hello stream, but regular
// tokens as DATAGRAMs, message packets on one unidirectional stream per
// side) or as QUIC DATAGRAM
// frames (RFC 9221, ModeDatagrams), or, in ModeUDP, outside QUIC: the
// message packets and regular tokens as sealed UDP datagrams on the same
// socket, paced at the path's declared bandwidth (see "Ring packets
// outside QUIC"). In datagram mode small ring packets are
// coalesced, each with its 16-bit length, into datagrams of at most 1240
// bytes (a QUIC packet of 1280 bytes): quic-go keeps at most 128 received
// datagrams waiting for the reader and drops the rest, which a burst of
// small packets would overflow. A lost datagram is lost, and the ring
// retransmits it; a stream loses nothing, but a loss holds back every
// later packet of its direction until QUIC repairs it.
//
// # Streams or datagrams
//
// The default, as the gateway runner resolves it (DomainMode): ModeUDP
// for a federation ring of which the topology declares the bandwidth of
// a link between two of its sites (a path whose link declares none
// keeps QUIC streams within it), ModeStreams for one of which it
// declares none: ModeUDP needs the path's rate to pace at, and without
// one the transport keeps QUIC's congestion control rather than guess.
// The runner logs at start, per peer site, the path's mode and why
// ("federation ring path: udp, ..." with the bandwidth, or "federation
// ring path: streams, ..."). The mode is in the ALPN, so the choice is
// the domain's, the same at every gateway that reads the same file; two
// gateways that choose differently refuse each other, and the refusal's
// log line names both modes.
//
// BenchmarkFederation (package gateway: three gateway runners through
// the wanem mesh, 20 Mbit/s cap per direction, which the topology
// declares; see its doc), streams (the earlier default) and udp
// interleaved, one binary at nice 10 per run, on the shared 2-core
// machine; the one-minute load average at each run's start in
// parentheses. Rows at 200 ms RTT: ring throughput in % of the cap, and
// paced Agreed latency p50 / p99 ms (the planner predicts a rotation of
// 300 ms, a mean of 851 and a maximum of 1,002):
//
//	                  streams                                          udp
//	0 %    % cap      92.0 (2.5)  94.3 (3.8)  90.3 (6.5)  58.8 (17.1)  72.9 (19.1)    89.2 (4.2)  89.5 (4.4)  90.9 (7.2)  81.4 (15.5)  55.5 (17.7)
//	1 %    % cap      33.5        32.2        12.6        6.7          13.6           87.7        68.8        46.1        82.5         49.4
//	0 %    p50/p99    262/409     259/406     270/484     305/867      268/468        273/460     262/455     266/437     264/442      268/475
//	1 %    p50/p99    303/1102    295/618     297/607     424/1339     525/2137       308/905     503/904     466/1084    418/1450     451/1466
//
// With the machine quieter, the code as landed (the default: udp with
// localring.Config.RequestGaps), against ATOLL_BENCH_FED_MODE=streams of
// the same binary, three pairs:
//
//	                  streams                            default (udp)
//	0 %    % cap      95.6 (3.9)  95.6 (3.8)  94.2 (5.2)   90.2 (3.7)  90.0 (5.0)  91.1 (3.9)
//	1 %    % cap      40.9        35.9        36.7         90.0        73.8        83.7
//	0 %    p50/p99    261/426     264/412     259/408      267/407     260/405     262/407
//	1 %    p50/p99    301/1022    300/700     299/583      393/1422    307/908     320/754
//
// No run re-formed at 200 ms. The same runs' process (three gateways,
// six relays and the benchmark's bookkeeping) used 0.08-0.54 cores and
// 121-190 MiB RSS with streams, 0.13-0.58 cores and 142-208 MiB with
// udp, over the saturated 8 s: the whole process below one core. Since
// df564de the benchmark also runs each gateway as a process of its own,
// saturated, and prints its CPU and peak RSS: over 12 runs at loads
// 12-27, 0.12-0.20 cores and 27.6-29.2 MiB VmHWM per gateway at 10 ms
// (3,400-5,400 msgs/s delivered at each), 0.06-0.20 cores and 32.2-35.9
// MiB at 200 ms and 1 % loss (docs/BENCHMARKS.md, "The federation ring
// alone"; in tests/fednetns, each gateway an agent process of its own,
// udp by default, 300 msgs/s per site, a gateway used 0.05-0.06 cores
// and 28-31 MB). Its p50 and p99 now leave out site a's probe, which
// waits a whole rotation (the planner's maximum, not its mean): at 200
// ms about 3 of 63 messages a second, at 10 ms half of them. At 1 % loss udp carried
// half the cap or more in 3 of 5 runs and 46-50 % in the other two,
// streams 6.7-33.5 % (QUIC's loss-based windows, 8 stripes and all); at
// 0 % both carried 89-94 % at loads up to 7, and above 15 streams 58.8
// and 72.9 %, udp 81.4 and 55.5 %. The
// median Agreed latency was far below the "predicted mean" printed then
// in both modes, because the benchmark compared the ring's own Agreed
// latency with the domain's end-to-end prediction (local rings and the
// Safe rotations included: 851 ms); it now compares with the federation
// ring's own prediction (topology.Domain.RingLatency: 250 ms mean,
// 400 ms max for three sites 200 ms apart), which the 0 % medians of
// 259-273 ms are within 10 % of. The p99 was within twice the old
// maximum but for one streams run (2,137 ms at load 19). At 1 % loss the
// udp median was the higher in 3 of 5 pairs, by 5 to 208 ms (lower by 6 and
// 74 ms in the two at loads
// 17-19): a ring that repairs its own losses asked
// for a lost packet only at the second visit after it was sent (it asks
// only for packets sent before its previous visit; later ones may still
// be on their way), where QUIC repairs a stream's loss within about a
// round trip. localring.Config.RequestGaps (on in DefaultWAN) now asks
// at the first visit for a packet missing between two of one sender's
// visit, which are lost, not on their way: in the simulator
// (localring/sim TestFedPacedLatencyUnderLoss, 1 % loss, the paced
// median 400 ms without and 350 ms with it, p90 850 and 750). Losses at
// a visit's edges, which a member cannot tell from packets still coming,
// and lost tokens keep the rest of the cost; over ModeUDP a member's
// predecessor's packets come behind the token (sealedToken), so gaps
// among them are not yet visible at the member's first visit either.
// localring.Config.NackDelay (nacks, on in DefaultWAN; the gateway runner
// clears it in ModeStreams) now asks a lost packet's sender, and a lost
// token's, directly about 5 ms after the member learns it was sent:
// BenchmarkRingWAN udp 1 % paced, three interleaved pairs at loads 18-25,
// p50 / p99 347 / 996, 336 / 1,242, 386 / 1,222 ms without against
// 266 / 547, 277 / 640, 308 / 625 with (docs/BENCHMARKS.md, "Nacks").
// BenchmarkRingWAN (udp, 1 % loss, paced), eight interleaved pairs,
// without RequestGaps (main at fe98448) and with it, loads 12-22 at the
// runs' starts: p50 332-549 ms (median 370) without, 332-402 (median
// 355) with; p99 882-1,673 (median 1,344) and 894-1,480 (1,090); lower
// with it in 5 of 8 pairs each; saturated 228-5,014 and 528-4,639
// msgs/s, one run of each losing its token. At these loads that is within
// the noise: the gain the simulator shows is not confirmed here. Two
// BenchmarkFederation runs of the new default (udp with RequestGaps,
// loads 16.8 and 23.4) gave at 200 ms 80.0 and 64.7 % of the cap at 0 %
// loss, 73.2 and 81.0 % at 1 % (p50 / p99 386 / 1,669 and 327 / 845 ms).
//
// Earlier measurements follow, in the order they were made: the choice
// between QUIC datagrams and streams, then ModeUDP.
//
// BenchmarkWAN sends 1200-byte packets from one gateway to another through
// the WAN emulator (internal/wanem): 200 ms RTT, a 50 Mbit/s cap each way,
// random loss each way. "Saturated" offers more than the cap for 6 s and
// counts what arrived in seconds 2 to 6; "paced" sends 50 packets/s for
// 10 s and takes the one-way latency of what arrived. Two runs (first /
// second) on a shared 2-core machine (go test -run '^$' -bench WAN -benchtime 1x
// ./federation/transport):
//
//	                  saturated         saturated   paced        paced     paced
//	mode       loss   Mbit/s            % of cap    delivered %  p50 ms    p99 ms
//	datagrams   0 %   48.8 / 43.2       98 / 86     100 / 100    100 / 100 136 / 116
//	datagrams   1 %    1.2 /  0.6        2 /  1     99.2 / 99.8  100 / 100 167 / 135
//	streams     0 %   46.8 / 45.9       94 / 92     100 / 100    100 / 100 113 / 152
//	streams     1 %    1.3 /  0.9        3 /  2     100 / 100    100 / 100 328 / 331
//
// Throughput is the same within the noise of the machine: both modes run
// under QUIC's loss-based congestion control, which at 1 % loss and 200 ms
// RTT carries about 1 Mbit/s whatever the cap (the Mathis bound for
// 1240-byte packets is about 0.6 Mbit/s), and quic-go offers no other
// controller. At 0 % loss the p99s are within the noise. At 1 % loss the
// datagrams that arrive have the lower p99, but 0.2–0.8 % never arrive.
//
// BenchmarkRingWAN measures what the ring makes of it: three sites, each a
// localring node (WAN preset, timeouts from topology.DeriveTimeouts)
// driven by driver.Driver over this transport, through a wanem mesh with
// the same paths (200 ms RTT between every two sites). Paced: 20 Agreed
// messages of 1000 bytes per second per site for 15 s, latency from Submit
// to delivery at the last site. Saturated: every site keeps its send queue
// full for 12 s, messages per second delivered everywhere from second 4
// on. Three runs (go test -run '^$' -bench RingWAN -benchtime 1x
// ./federation/transport):
//
//	                  paced             paced               saturated            membership changes
//	mode       loss   p50 ms            p99 ms              msgs/s               (both phases)
//	datagrams   0 %   255 / 253 / 256    406 /  402 /  410  2289 / 2584 / 2092   0 / 0 / 0
//	datagrams   1 %   526 / 576 / 801   1427 / 2021 / 2359     0 /    0 /    7   1 / 0 / 2
//	streams     0 %   259 / 257 / 255    414 /  444 /  405  2926 / 2888 / 2896   0 / 0 / 0
//	streams     1 %   283 / 324 / 307    651 /  745 /  827     0 /   78 /   98   1 / 2 / 1
//
// Every paced message was delivered at every site in every run.
//
// Streams were then made the default: at the ring level they halve the median and the
// p99 agreed latency at 1 % loss and carry more at 0 % loss. The ring
// delivers in total order, so a lost packet holds back every later
// delivery whichever transport carries it, and the ring repairs a lost
// datagram only through its own retransmission on a later token visit (a
// lost token only after the token retransmit timeout, two rotations),
// while QUIC repairs a stream's loss within about one RTT. Streams also
// carry packets of up to 64 KiB (default 16 KiB, against 1,238 bytes for
// datagrams), and lose nothing to the receive-queue limit of quic-go's
// datagrams.
//
// # Back-pressure: a window the connection does not carry
//
// Saturated at 1 % loss the ring used to collapse in both modes (the
// table above, and "before" below): its window, the bandwidth-delay
// product of the 50 Mbit/s cap, is some fifty times what QUIC's
// congestion control lets through at that loss, so the send queues
// overflowed, the token waited (or was dropped) behind the queued
// messages, the token timeouts fired and the ring re-formed again and
// again. Two measures fix it, and neither touches the window:
//
//   - control packets (tokens, membership) have their own queue, served
//     first, and in stream mode their own stream, so a token is never
//     held behind messages, neither in this side's queue nor by QUIC's
//     in-order repair of a lost message;
//   - the transport reports its message backlog (Backlog,
//     driver.BacklogReporter) and the driver lets the node put out only
//     what fits under driver.Config.MaxBacklogBytes (512 KiB by default)
//     per token visit, retransmissions included
//     (localring.Node.SetSendLimit): the node sends what the connection
//     drains, and its queues never overflow.
//
// The same benchmark, before (main at 0a1e5aa) and after, three runs
// each on the shared 2-core machine at a load average of 9 to 31
// (first / second / third; the after runs are interleaved with the
// second and third before runs; queue drops are the transports' send
// queue drops of both phases, undelivered the paced messages not
// delivered everywhere):
//
//	before            saturated msgs/s    paced p50 ms        paced p99 ms            token losses  new configs  queue drops               undelivered %
//	datagrams   0 %   2630 /    0 / 2452   299 / 1266 / 255   1390 /  6101 /  408     0 /  3 / 0    0 / 1 / 0    0 /      0 /      0     0 / 13.7 / 0
//	datagrams   1 %     42 /    0 /   20   819 / 8567 / 351  12092 / 10443 / 1415     6 / 10 / 5    1 / 1 / 1    647741 / 18201 / 506135  64.6 / 77.0 / 0
//	streams     0 %    335 /   14 / 2902   305 / 1456 / 255    683 / 13607 /  405     2 /  9 / 0    1 / 2 / 0    0 /   2026 /      0     0 / 61.3 / 0
//	streams     1 %     12 /    0 /   52   304 / 5254 / 332    943 / 19114 /  799     4 /  5 / 5    0 / 3 / 1    1008 /    0 /  62696    0 / 23.8 / 0
//
//	after             saturated msgs/s    paced p50 ms        paced p99 ms            token losses  new configs  queue drops  undelivered %
//	datagrams   0 %      4 / 3414 / 3642   311 / 254 / 344    2166 /  404 / 1591      3 / 0 / 0     1 / 0 / 0    0 / 0 / 0    0 / 0 / 0
//	datagrams   1 %      0 /  155 /  168  1148 / 356 / 344    2984 / 1223 /  895      1 / 0 / 0     2 / 0 / 0    0 / 0 / 0    19.1 / 0 / 0
//	streams     0 %    289 / 3093 / 3834   409 / 253 / 259    1814 /  402 /  432      3 / 0 / 0     0 / 0 / 0    0 / 0 / 0    0 / 0 / 0
//	streams     1 %     44 /  207 /  333   524 / 276 / 298    1985 /  585 /  738      0 / 0 / 0     0 / 0 / 0    0 / 0 / 0    0 / 0 / 0
//
// After the change no run dropped a packet from a send queue, and at 1 %
// loss in streams mode (the default) no run lost a token or re-formed:
// the ring delivers 200 to 330 messages/s, about the 1 Mbit/s per
// connection QUIC carries there (each site's messages cross its own
// connections), where before it delivered 0 to 52 and re-formed. At 0 %
// loss it carries as much as before or more (3,093 and 3,834 against
// 2,902 and 335 before). The first after run (load 28 to 31) and the
// second before run (26 to 29) ran at the highest load: QUIC connections
// themselves ended there (sends that found no connection: up to 19 per
// site in a saturated phase after, 14,411 over datagrams 0 % before,
// against 2 to 4 per site and phase in the other runs), and rings lost tokens whatever their
// queues; those runs show the machine more than the ring. The load of the
// first before run was not recorded. The cost is latency under saturation on a slow
// path: a full backlog is 512 KiB at the connection's rate (about 4 s at
// 1 Mbit/s), which a bound derived from the measured drain rate would
// shorten.
//
// The bound keeps the transport's queues from overflowing, not the
// path's: QUIC's loss-based congestion control fills a bottleneck queue
// whatever the ring offers above the path's rate, and the token, a
// datagram in the same connection, waits in that queue at every hop.
// So the federation ring's window is also delay-based
// (localring.Config.AdaptWindow, on in localring.DefaultWAN): a node
// halves its window when a busy rotation takes more than three times the
// ring's fastest, and grows it back by a sixteenth when one takes less
// than twice it (see localring's package doc). On
// TestRingOverCongestedPath (2 Mbit/s paths, window for 50 Mbit/s, 40 ms
// RTT, 1 % loss; three hops of 20 ms) each node halved its window 1 to
// 7 times per 8 s run. One 16 KiB packet holds a 2 Mbit/s link for
// 65 ms, so a rotation that carries any cannot be much shorter than
// 130 ms there. In ten runs of each build, interleaved, the token went
// round at least 15 times at every site in the 8 s in 7 runs after and
// 4 before; in those, the rotations' medians per site were 145-238 ms
// after (185-227 before), their 90th percentiles 258-674 ms (242-717),
// the smoothed RTTs' medians 92-118 ms (107-122): about the same. On
// a loaded 2-core machine (load 17 to 30) that test failed in nearly
// every run with and without the change, mostly from driver loops
// descheduled for hundreds of milliseconds at the start of the
// saturation; those runs do not show whether the change lowers its
// failure rate. In the simulator (localring/sim,
// TestFedThroughputUnderLoss: a window matching the path, no cap) the
// ring's throughput is unchanged to the message (6,156 and 5,933 msgs/s
// with 16 KiB packets, 5,050 and 5,208 with 1,238 bytes), and
// BenchmarkRingWAN at 200 ms RTT with the declared bandwidth right
// halved a window 0 to 2 times per run.
//
// # Tokens: datagrams in stream mode
//
// The ring's token timeout is TokenRetransmitsBeforeLoss+0.2 token
// retransmit periods (topology.DeriveTimeouts): a member resends the
// token when its successor shows no sign of it, and the ring survives
// four lost copies, as over UDP. On a stream the copies are not
// independent: a copy resent by the ring waits behind the lost one until
// QUIC has repaired it, and QUIC declares a packet lost only when the ack
// of a later one returns. So stream mode sends each regular token as one
// DATAGRAM (unless it does not fit one, or the transport is closing,
// whose flush must be reliable); joins and commit tokens stay on the
// hello stream. A token datagram is still congestion-controlled, but
// quic-go packs DATAGRAM frames before STREAM frames.
//
// TestTokenCopyNotHeldBehindLostCopy (600 ms RTT; the first copy lost in
// a cut, the second sent when the path heals): the second copy arrived
// 901-907 ms after it was sent on the stream (3 of 3 runs), 300 ms as a
// datagram. On TestRingOverCongestedPath (three sites, 40 ms RTT paths
// of 2 Mbit/s with a 100 ms tail-drop queue and 1 % loss, saturated;
// token timeout 504 ms, retransmit 120 ms) the token's hops on the
// stream took up to 480 ms after a burst of tail drops at the start of
// the saturation (QUIC's slow start overshooting the queue: 25 of 121
// packets lost on one connection in its first 0.4 s), with every copy
// the ring resent arriving at the same instant as the first, and the
// token timeout fired. See that test's doc for the failure rates.
//
// # Stripes: several connections on a path with random loss
//
// At 1 % random loss and 200 ms RTT one QUIC connection carries 1–2
// Mbit/s whatever the cap, and that, not the ring, is the limit.
// BenchmarkRingWAN logs each connection's quic-go ConnectionStats: in
// the saturated phase at 1 % loss, one connection per peer, the
// congestion windows were 18–28 KB (the bandwidth-delay product of the
// cap is 1.25 MB), smoothed RTTs 202–209 ms (no queue at the relay, whose
// queue holds 100 ms), measured loss 0.66–0.96 % (the emulated loss, not
// tail drops) and no send-queue drops: the congestion window of each
// connection is the bottleneck, not the relay or the transport's queues.
//
// Config.Stripes opens more connections to the same gateway, each with
// its own congestion window, which take message packets from the peer's
// one queue as fast as each can send. Tokens (as datagrams) and membership
// packets stay on the main connection; the ring orders
// messages by sequence number, so the stripes' reordering costs nothing.
// A stripe that fails is dialed again while its main connection lasts,
// and the stripes end with it (TestStripes, and the transport contract
// suite runs with 4 stripes).
//
// Stripes are for random loss, not for congestion, and paceStripes lets
// them send accordingly, once per round trip of the main connection
// (stripeStep): one more stripe while the connections lose packets, the
// peer's message queue holds a backlog (the connections sending do not
// keep up), the main connection's smoothed RTT exceeds its minimum by no
// more than an eighth of the minimum (at least 20 ms) and the round
// trip lost under 5 % of its packets (or fewer than 4); none at once when the RTT shows a
// standing queue or the loss is heavier (a full queue's tail drops); one
// fewer after 8 round trips without a loss. A stripe that may not send
// sleeps until paceStripes changes that number or a stripe ranked before
// it ends (TestIdleStripesSleep). So on a clean path one
// connection carries the ring as before, and on a full one the stripes
// stop. (Until this rule the stripes sent while the RTT exceeded its
// minimum by no more than half the minimum, whatever the loss: at 200 ms
// a relay's full 100 ms queue stayed under that.) The default
// (DefaultStripes, 8) opens stripes only on paths of 100 ms RTT or more
// (stripeMinRTT): on TestRingOverCongestedPath (2 Mbit/s, 40 ms RTT,
// 1 % loss) with 8 stripes under this rule the ring lost its token 3, 4
// and 9 times (one connection: 1 and 2, at a load average of 19 to 25;
// that test fails with one connection too on this machine), and in
// BenchmarkFederation (gateway) the 10 ms rows re-formed 9 to 15 times
// per row with stripes against 2 to 4 without. One connection at 10 ms
// carries twenty times what it carries at 200 ms at the same loss (its
// window is sent once per round trip), so stripes buy little there.
// Config.Stripes, or a link's stripes in the topology, applies to every
// path, short ones included.
//
// With the default (8, on paths of 100 ms RTT or more), at 200 ms RTT,
// on the shared 2-core machine at a load average of 13 to 33, every run
// at nice 10, before (one connection, main at 8a49a2a) and after
// interleaved; "after, earlier" is this rule before burstLoss needed 4
// losses (one random loss stopped the stripes). BenchmarkRingWAN
// saturated msgs/s delivered everywhere (6,250 is the 50 Mbit/s cap;
// variants streams and streams-default), [re-formed] a run that lost
// its token and re-formed, [*] one that lost it twice without re-forming:
//
//	          before                                         after             after, earlier
//	1 % loss  62 [re-formed] / 305 / 305 / 0 [re-formed] / 165  1058 / 498 / 982  370
//	0 % loss  2484 [re-formed] / 1617 / 3251 / 4310 / 560 [*]   4613 / 2030       2591
//
// BenchmarkFederation (gateway; 20 Mbit/s cap, 200 ms rows, ring
// throughput in % of the cap, no run re-formed):
//
//	          before                                 after        after, earlier
//	1 % loss  9.6 / 0.5 / 8.5 / 1.9 / 5.1 / 9.4      7.9 / 25.0   27.8 / 20.6 / 14.7 / 9.0
//	0 % loss  38.6 / 17.1 / 59.9 / 17.3 / 77.2 / 78.2  71.2 / 86.1  49.8 / 71.0 / 17.3 / 32.2
//
// The stripes lift the ring at 1 % loss two- to fivefold, short of
// half the cap: on this machine at these loads the stripes stop
// whenever the main connection's RTT rises by 25 ms, which a descheduled
// gateway does too, and the busiest direction carried 2–5 Mbit/s. At 0 %
// loss they stay idle (no loss) and the figures are within the noise.
// The paced latencies did not change beyond the noise (RingWAN 1 %:
// p50 296–342 ms and p99 656–1,365 ms after, 282–337 and 602–943
// before; BenchmarkFederation 200 ms 1 %: p50 301–357 and p99
// 708–1,123 after, 297–422 and 598–1,382 before, against the planner's
// 851 ms mean and 1,002 ms maximum). One thing may be a cost of the idle
// stripes rather than noise, and is not settled: at 0 % loss the paced
// p99 of RingWAN exceeded 1.2 s in 2 of 5 runs with the default (1,895
// and 1,262 ms, at loads of 17 to 25; 408–443 in the others) and in none
// of 5 with one connection (405–476 ms); the stripes send nothing then,
// but each waiting stripe polled every 20 ms. The waiting stripes now
// sleep until the gate changes: an idle pair of gateways 200 ms apart
// with the default used 532 and 576 ms of CPU in 20 s polling, 254 and
// 181 ms sleeping, and the paced p99 at 0 % was 416 / 431 / 527 ms
// polling and 406 / 420 / 468 ms sleeping (interleaved, loads 7 to 16):
// the outliers did not recur either way, so what caused them is not
// shown.
// On a congested long path (2 Mbit/s, 200 ms RTT, 1 % loss, window
// sized from a declared 50 Mbit/s, runRing for 10 s) the default and one
// connection fared alike: 74 [lost the token twice, re-formed] / 309 /
// 0 [re-formed] / 289 / 257 msgs/s (the first three before the burst
// rule) against 0 [re-formed] / 301 / 0 [re-formed] / 271 / 283, with
// the stripes kept off by the path's queue. quic-go v0.65 offers no
// other congestion controller (its Config has no such setting; issue
// quic-go#776 asks for one), and its DATAGRAM frames are sent under the
// same congestion window, so neither mode escapes it without a path
// outside QUIC.
//
// Earlier, before the loss rule, with Config.Stripes set:
// BenchmarkRingWAN, saturated msgs/s delivered everywhere (1000-byte
// messages; 6,250 msgs/s is the 50 Mbit/s cap), on the shared 2-core
// machine at a load average of 14 to 22, every run at nice 10
// (go test -c, then ./transport.test -test.run '^$' -test.bench
// 'RingWAN/streams-16stripes/loss=1%' -test.benchtime 1x and the like,
// one configuration per run), one connection and stripes back to back;
// in brackets the runs that lost the token and re-formed:
//
//	                          1 % loss                          0 % loss
//	one connection            405 [re-formed] / 96 [re-formed]  2571 / 1938
//	16 stripes, uncoupled     2344                              3318
//	16 stripes, RTT-coupled   1617 / 2057 / 627 [re-formed]     677 [re-formed] / 2900
//
// (the uncoupled variant was measured before the coupling was added and
// is not what this package does). Striping lifts the throughput at 1 %
// loss from 96–405 msgs/s (1.5–6.5 % of the cap) to 627–2,057
// (10–33 %), short of half: each of the 16 connections is still
// loss-bound, and the relays, the three
// gateways and their 96 connections share two loaded cores. At 0 % loss
// one connection already carries what the machine lets through, and
// stripes neither add nor reliably keep it: use them only on lossy paths.
//
// # Where the limit is at 1 % loss
//
// The target is half the cap at 200 ms RTT and 1 % loss. Two
// measurements place what holds the ring below it, and it is not the ring
// core. The benchmark runs below were made before the delay-based window
// (AdaptWindow, 5e017c5) was on in localring.DefaultWAN; the simulator's
// figures are the same with it (its delays do not vary):
//
//   - The core alone, without a congestion controller
//     (TestFedThroughputUnderLoss in localring/sim: the simulator's
//     network, three sites 200 ms RTT apart, the window of a 50 Mbit/s
//     cap, each packet to each receiver lost at 1 %, no rate limit but the
//     ring's window; virtual time, so the machine's load does not enter):
//     in 16 KiB packets (this package's stream frames) it delivers 6,156
//     msgs/s without loss and 5,933 at 1 % (95 % of the cap's 6,250); in
//     1,238-byte packets (a datagram's) 5,050 and 5,208 (one 1000-byte
//     message per packet makes 81 % that size's ceiling). Until c0442a7
//     the small-packet ring delivered 2,512 at 1 %: the core asked for
//     missing packets only up to 512 sequence numbers past its aru, a
//     third of that ring's 1,515-packet window, so the later losses of a
//     rotation were asked for one stretch per rotation; it now looks two
//     windows ahead. In stream mode QUIC repairs losses below the ring,
//     which sees none. (16 KiB packets at 12 % loss, what 1 % per
//     1,240-byte datagram makes of a packet sent as 13 of them, delivered
//     2,788, 45 %: a path outside QUIC would want datagram-sized ring
//     packets.)
//   - QUIC: BenchmarkRingWAN, streams-default at 1 % loss, logs each
//     connection's ConnectionStats and, from second 4 of the saturated
//     phase, each direction's queue every 25 ms (Transport.PeerQueue, a
//     test accessor). At a load average of 21 (556 msgs/s delivered, 8.9 %
//     of the cap): every direction held a backlog (mean 286–385 KiB
//     queued, the queue empty in 3–28 % of the samples), so the ring gave
//     the connections more than they sent; the connections that carried it
//     had congestion windows of 18–34 KB (0.65–1.5 Mbit/s each over the
//     run, 0.4–1.1 % loss); and only 0.4–1.0 of the 7 stripes were
//     active on average: the main connection's smoothed RTT was 234–258
//     ms on a 200 ms path whose relays carried a tenth of their cap, which
//     paceStripes reads as a standing queue (more than 25 ms over the
//     minimum) and stops the stripes. At a load of 11 (984 msgs/s, before
//     the queue was sampled) the busy connections' RTTs were 201–207 ms,
//     stripes 1–3 sent about as much as the main connection (0.4–1.2
//     Mbit/s each), and the later stripes ended with windows of up to
//     290 KB but had sent 0.01–0.4 Mbit/s each.
//
// So the limit is QUIC's loss-based window per connection, times the
// connections that may send: each direction carries its sender's third of
// the ring's traffic, so half the cap is 8.3 Mbit/s of payload per
// direction, ten or more connections of that window sending at once,
// where paceStripes lets one to four send on this machine (16 stripes set
// explicitly: 0 msgs/s, the token lost 3 times and the ring re-formed, at
// a load of 6 to 10). Reaching the target needs one of: a stripe rule
// that tells a loaded host from a queue on the path (the RTT rule is the
// congestion guard of TestRingOverCongestedPath, and not changed here),
// or message packets outside QUIC's congestion control: on the same UDP
// socket (quic.Transport's WriteTo and ReadNonQUICPacket), sealed with
// keys from the TLS exporter of the authenticated main connection, in
// datagram-sized ring packets (which the core now carries at 1 % loss),
// with the ring's window as the only rate control, which then needs a
// delay-based limit of its own on a congested path. The second is
// ModeUDP (next section); the first is not built.
//
// The interleaved runs of c0442a7 (before: main at 9537fc0, after: the
// branch; one binary each, at nice 10, before and after alternating):
// BenchmarkRingWAN saturated msgs/s, [t] a run that lost the token, [r]
// one that re-formed; the one-minute load averages at the runs' starts
// were 10.0, 18.2, 21.5 and 31.9 before, 17.5, 23.3, 20.8 and 37.1 after
// (the streams rows ran in the first two only):
//
//	                     before                           after
//	datagrams       0 %  1559 / 2788 / 0 [t, r] / 1843    109 [t, r] / 1312 / 858 [t, r] / 1055
//	datagrams       1 %  0 [t] / 183 / 0 [t] / 116        192 / 264 / 221 / 279
//	streams-default 0 %  76 [t, r] / 2113                 3886 / 2153
//	streams-default 1 %  484 / 562                        1540 / 840
//
// and three more pairs of datagrams at 0 %, the row where a wider scan
// could cost (more retransmissions at once when quic-go drops datagrams
// at its receive queue): 104 [t, r] / 0 [t, r] / 1265 before, 317 [t, r]
// / 1535 / 1118 after (loads 31, 28, 25 before and 29, 25, 23 after).
// Over the seven pairs the medians are 1265 before and 1055 after, with
// the token lost in three runs each: within the noise of this machine,
// which does not exclude a small cost there either.
//
// The change can only act in datagram mode: it widens the scan only for
// windows above 256 packets (2 × MaxRetransmitRequests), and the stream
// mode's window here is 115 packets of 16 KiB. Over datagrams QUIC's
// window caps the ring long before its repair does. BenchmarkFederation
// (stream mode, a window of at most 46 packets: the same code runs) in %
// of the 20 Mbit/s cap, before (loads 16.8, 20.3) / after (18.4, 22.4),
// reconfigurations in brackets:
//
//	10 ms   0 %   146.5 [6] / 204.4     155.3 [3] / 33.7 [8]
//	10 ms   1 %   30.3 [3] / 22.2 [5]   23.0 [4] / 54.8 [1]
//	200 ms  0 %   46.7 / 33.6 [1]       79.2 / 49.8
//	200 ms  1 %   23.6 / 13.9           25.5 / 20.4
//
// At these loads the rows move by a factor of two to six between runs of
// the same code; they show no change, as there is none to show.
//
// # Ring packets outside QUIC (ModeUDP)
//
// ModeUDP takes the ring's message packets and regular tokens out of
// QUIC's congestion control, to a peer whose path declares a bandwidth
// (Peer.Bandwidth, from the topology's links[].bandwidth by Peers, or
// Config.Bandwidth); QUIC keeps the handshake, the identity, keep-alive,
// the joins and commit tokens (on the hello stream, reliable, and the
// leave of Close with them). A peer without a declared bandwidth is
// served as in ModeStreams: without a rate to pace at, the transport
// keeps QUIC's congestion control rather than guess one.
//
//   - Wire: a sealed datagram is type 0x01 (the QUIC fixed and
//     long-header bits clear, so it cannot be taken for QUIC), a 64-bit
//     key id, a 64-bit counter, and the ring packets, each with its
//     16-bit length, under AES-256-GCM with the header as additional
//     data and the counter as nonce; at most 1280 bytes, QUIC's smallest
//     packet size, so MaxPacket is 1,245 (DefaultUDPPacket).
//   - Keys: per connection and direction, from the TLS exporter of the
//     authenticated connection (label "EXPORTER-atoll-fed ring packets
//     v1": two keys and two key ids). The key id names the connection
//     a datagram belongs to; its source address plays no part. A
//     connection made again (reconnect, restarted gateway) has new keys,
//     and an ended connection's keys are forgotten.
//   - Replay: a sliding window of 1,984 counters per connection (as in
//     WireGuard), checked before and updated after authentication, so a
//     forgery cannot move it. Malformed, unknown-key, forged and
//     replayed (or network-duplicated) datagrams are dropped and counted
//     (Stats.RingMalformed, RingUnknownKey, RingForged, RingReplayed).
//   - Receiving: the socket handed to quic-go is wrapped (ringConn) and
//     its reads take the sealed datagrams out before quic-go sees them.
//     quic-go's own path for packets that are not QUIC
//     (Transport.ReadNonQUICPacket) keeps at most 32 and drops the rest
//     uncounted: with a goroutine reading it, the receivers' counter
//     gaps were 4-8 % of what they received where the relays lost 1 %
//     (1,079-1,945 gaps against 220-240 relay losses per site in a
//     saturated BenchmarkRingWAN run); taken in quic-go's read loop, the
//     gaps match the relays' losses (239 against 240). quic-go then reads
//     the socket one packet per call, without recvmmsg or GSO.
//   - Pacing: one writer per peer takes the message queue, coalesces what
//     is queued into datagrams and sends them through a token bucket at
//     the declared bandwidth (UDP and IPv6 headers counted), which holds
//     10 ms of sending (pacerBurst), so a token visit's burst leaves at
//     the path's rate and a bottleneck's queue is not flooded. The
//     bandwidth must be the path's: declared above it, the paths' queues
//     overflow and only the ring's window (AdaptWindow) and the driver's
//     backlog bound hold the sending back.
//   - Tokens: a regular token is sealed and sent at once, ahead of the
//     messages queued and outside the pacer (sealedToken). Queued behind
//     its visit's messages, each hop took their sending time on top of
//     the path's delay (rotation 555-595 ms instead of 306, 1,443-2,064
//     msgs/s at 1 % loss, three runs at loads 7-11, two of them still
//     reading through ReadNonQUICPacket; 182 in an earlier one whose log
//     was not kept); ahead of them it
//     arrives while they are still coming, and the ring core asks only
//     for packets sent before its previous visit, so those it overtook
//     are not asked for (2,504 in the first run, load 9).
//
// BenchmarkRingWAN, variants streams-default (the default mode, 8
// stripes) and udp, saturated msgs/s delivered everywhere (6,250 is the
// 50 Mbit/s cap), one configuration per run at nice 10, the two
// interleaved, five pairs on the shared 2-core machine; the one-minute
// load average at each run's start in parentheses; [t n] a run that lost
// its token n times, [r] one that re-formed:
//
//	          streams-default                                                     udp
//	1 % loss  2 [t 3] (12.5) / 368 (19.6) / 472 (18.6) / 317 (13.9) / 745 (20.5)   0 [t 4, r] (11.9) / 0 [t 6, r] (19.0) / 3000 (18.1) / 1827 (15.6) / 2997 (16.1)
//	0 % loss  627 (15.1) / 922 [t 4, r] (24.8) / 1498 (16.9) / 1079 (19.8) / 1822 (13.9)   1388 (17.5) / 1802 (27.5) / 3475 (16.8) / 2684 (24.3) / 3240 (16.3)
//
// In the three pairs where neither run lost its token, ModeUDP carried
// 4 to 6 times as much at 1 % loss (1,827-3,000 msgs/s, 29-48 % of the
// cap, against 317-745) and 1.8 to 2.5 times as much at 0 % (2,684-3,475,
// 43-56 %, against 1,079-1,822). Its two runs at 1 % that lost the token
// ran while the whole test process stopped for 0.2-1.7 s at a time (the
// scheduling probe; in the second the relays delivered packets seconds
// late): the machine,
// which that hour also cost the default mode its token at 1 % and at
// 0 %. Per message it costs less CPU: the process used 7.5 s of CPU in
// the udp run of the third pair, 5.3 s in the streams run that
// delivered a sixth of it. Neither mode reaches half the cap at 1 % here;
// in the saturated ModeUDP runs the rotation was 396 ms (p50, against 306
// paced), and the driver's backlog bound (512 KiB, 421 packets per
// visit) was below a third of the window (1,507 packets). It no longer
// is: see "Bytes, not packets" below.
//
// The cost is latency at 1 % loss: the ring repairs a lost packet itself,
// asking for it at the first visit after the one where it was sent, and
// every later delivery waits for it, where QUIC repairs a stream's loss
// within a round trip. Paced (20 msgs/s per site), p50 / p99 ms:
//
//	          streams-default                                              udp
//	1 % loss  305/874, 324/1057, 370/1212, 280/607, 305/1018   536/1423, 1604/8383 [t], 418/1370, 463/1625, 394/1464
//	0 % loss  301/870, 7141/14621 [t], 268/510, 284/765, 258/431   286/716, 285/622, 266/529, 258/491, 280/743
//
// BenchmarkFederation (gateway runners; 20 Mbit/s cap, the topology
// declaring it; ATOLL_BENCH_FED_MODE=udp), two interleaved pairs at a
// load of 4 to 10, ring throughput in % of the cap, default / udp:
//
//	200 ms  1 %   33.5 / 67.7   29.3 / 50.6
//	200 ms  0 %   88.1 / 74.1   83.8 / 70.0
//	10 ms   1 %   44.5 / 170.3  45.5 / 101.8
//	10 ms   0 %   241.3 / 101.7 176.2 / 150.9 [1 re-formed]
//
// with the paced Agreed latency at 200 ms and 1 % (p50 / p99 ms) 306 /
// 611 and 328 / 1,095 by default, 386 / 905 and 435 / 1,457 in udp (the
// planner predicts a mean of 851 and a maximum of 1,002). At 1 % loss udp
// reaches half the cap where the default does not; at 0 % it carries
// less: the window counts packets, sized from the bandwidth-delay product
// in bytes, and a 1,245-byte packet holds one 1000-byte message where a
// 16 KiB one holds sixteen, so the same window carries about a fifth
// fewer messages (1,039 packets against 79 × 16 messages), and the links
// were 26-32 % busy: the window, not the path, held both.
//
// Bytes, not packets. Two things held ModeUDP below the bytes of its
// window, and both are gone. The window counted packets, and a packet of
// one 1000-byte message is 1,040 bytes in BenchmarkRingWAN (whose ring
// keeps the default id bound, 64 bytes, and a recovery reserve of 164)
// and about 1,120 in a gateway (8-byte ids, the federation envelope),
// where the window's unit is 1,245: the rest is too short for a fragment
// of the next message. The window now
// counts bytes over packets smaller than the preset's
// (localring.Config.ByteWindow, set by federation.FitPacket; ALPN
// version 6). And the driver's backlog bound of 512 KiB let a site
// put out 421 packets per visit where its third of a 50 Mbit/s, 300 ms
// window is 502 (625 KB): with every peer paced the bound is now the
// window (BacklogBound; the gateway runner and BenchmarkRingWAN set
// driver.Config.MaxBacklogBytes from it), since the pacer drains a
// window per rotation. In the simulator's virtual time
// (localring/sim TestFedThroughputUnderLoss) the small-packet ring went
// from 5,050 / 5,208 msgs/s (0 / 1 % loss) to 6,013 / 5,285 (5,277 to
// 5,943 at 1 % over five seeds); its paced
// Agreed latency at 1 % loss is the same to the message with either
// count (three seeds, 20 msgs/s per site), as the window never binds
// there. Interleaved runs (base: main at 77907d0; new: both changes;
// one binary each at nice 10, base and new alternating, the one-minute
// load at each run's start in parentheses; the machine shared and
// loaded throughout), saturated, % of the cap, paced p50 / p99 ms:
//
//	BenchmarkRingWAN udp        base                                   new
//	0 % loss  62.4 (2.2)  63.2 (7.7)  49.7 (11.6)      78.4 (2.2)  86.5 (8.2)  67.3 (10.6)
//	1 % loss  57.1 (5.5)  30.9 (8.0)  32.4 (10.2)      71.4 (6.2)  66.9 (11.6) 35.6 (12.7)
//	  paced   352/960 455/1309 358/899                 510/1946 579/1810 393/927
//
//	BenchmarkFederation udp, 200 ms  base              new
//	0 % loss  80.6 (13.2)  85.4 (9.3)  85.3 (12.1)     90.4 (12.3)  80.7 (9.6)  90.5 (6.7)
//	1 % loss  69.4         58.6        60.0            78.0         74.4        87.7
//	  paced   408/1052 523/1519 416/1294               550/1481 374/1315 341/1075
//
// No run lost its token or re-formed at 200 ms (BenchmarkFederation's
// 10 ms rows: one reconfiguration in new's second run). Single runs
// earlier the same hour gave, at 0 % in BenchmarkRingWAN, 61.5 % (base,
// load 1.0), 73.4 % (new, 5.4), 73.8 % (the bound alone, 6.2) and 88.8 %
// (new with a CPU profile, 3.2), and BenchmarkFederation base 85.6 % at
// 0 % and 75.9 % at 1 % (load 2.0). So BenchmarkFederation meets both
// targets with either build at these loads, the new one carrying more
// in five of six pairs; BenchmarkRingWAN (50 Mbit/s, where the bound
// mattered) reached 80 % at 0 % loss in two of five new runs (86.5 and
// 88.8; 78.4 and 73.4 at loads 2 and 5, 67.3 at 10.6) and in no base
// run, and half the cap
// at 1 % in two of three new runs against one of three base runs; above
// a load of about 10 the process (three gateways, six relays) falls
// behind and neither build does. With the machine quiet (load 0.3 to
// 2.9), after the byte window was kept to small packets (below), one more
// pair each: BenchmarkRingWAN udp 89.0 % at 0 % and 87.7 % at 1 % (base
// 63.2 and 45.6), a third at 1 % 76.8 % (base 55.6; the bound alone 63.3),
// BenchmarkFederation udp at 200 ms 90.0 and 77.4 %. The paced Agreed
// latency at 1 % loss is higher with the change in BenchmarkRingWAN in
// every pair (p50 393-579 ms against 352-455, five runs each; the bound
// alone 494), not in BenchmarkFederation (341-550 against 408-523): in
// the simulator the core makes the same decisions in a paced ring either
// way (the window does not bind there), and the backlog bound does not
// bind in a paced phase either; the cause was not found. In a CPU profile
// of the new build (load 3; 13 s of CPU in 41 s) system calls took 47 %:
// the sealed sends (one sendto
// each) 1.8 s, the relays' sends 2.2 s although wanem already sends in
// batches (sendmmsg, x/net's WriteBatch), so batching the sealed sends
// would save the system call's entry, not the loopback delivery that
// costs the most; it is not done.
//
// Stream mode keeps counting packets. With the byte window in every mode
// (as first landed), BenchmarkFederation in the default mode carried
// less at 10 ms RTT and 0 % loss in three of three interleaved pairs,
// % of the cap, base / bytes (loads 3.4-6.4 at the runs' starts; the
// first bytes run 3 reconfigurations, the others none): 270.8 / 124.7,
// 198.7 / 159.4, 283.5 / 179.1, and the same at 200 ms within the noise
// (0 %: 94.7 / 94.8, 94.6 / 98.9, 90.9 / 95.6; 1 %: 42.8 / 26.5,
// 41.2 / 33.7, 22.5 / 38.4). Its 16 KiB packets fill under
// saturation, so the byte count adds little there, and where they do
// not (a short rotation) counting packets holds the ring to fewer,
// fuller ones; why that carries more was not examined. So
// federation.FitPacket sets ByteWindow only for a transport of smaller
// packets.
//
// On a path slower than declared (TestRingOverCongestedPath's: 2 Mbit/s
// paths, 50 Mbit/s declared, 40 ms RTT, 1 % loss, saturated 8 s, load 6
// to 7) ModeUDP kept its token and configuration in 2 of 2 runs and
// delivered 252 and 183 msgs/s (the default mode 150-187 in that test),
// but the pacer, trusting the declaration, overfilled the relays: about
// half of the sealed datagrams were tail-dropped there, and AdaptWindow
// halved the windows 6 to 12 times per node. Declare the bandwidth the
// path has.
//
// So ModeUDP was then an option, not the default (it is now where the
// bandwidth is declared; see the start of this section): it multiplies the ring's
// throughput on a long path with random loss whose bandwidth is
// declared, and costs about 100-150 ms of median and 400 ms of p99
// Agreed latency at 1 % loss (the medians of the runs above). An operator
// chooses it with the topology file's federation.ring_packets: udp
// (docs/TOPOLOGY.md; the gateway runner sets Config.Mode from it).
// Figures from go test -c and, per run,
// ./transport.test -test.run '^$' -test.bench 'RingWAN/udp/loss=1%$'
// -test.benchtime 1x (and the like); the log gives each site's sealed
// datagrams sent, received, counter gaps, pacer waits and refusals, and
// each relay's counters.
//
// # Closing: the leave must reach the peers
//
// A graceful stop ends with Node.Leave's two joins, queued just before
// the driver closes the transport. QUIC's CONNECTION_CLOSE discards
// stream data not yet sent or acknowledged, so Close first lets the
// writers send their queues and end their streams (the hello stream
// included, in both modes), and waits until each peer, having read that
// end, closes the connection (application error 0x3) — at most
// closeFlushTimeout (300 ms) in all; then it closes what is left. A
// datagram-mode peer takes the datagrams that arrive within 20 ms after
// the end (peerEndGrace) before it closes. TestGracefulLeaveReachesPeers
// (100 ms RTT, token timeout 1.26 s): before, the others re-formed after
// 3.17 s in 4 of 5 runs over streams and 1 of 5 over datagrams (the
// leave lost, the crash path); after, in 0.63–0.64 s in every run.
package transport
