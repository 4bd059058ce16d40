// Package stagetrace measures, in a test build only, where a benchmark
// message's time goes between the load client's Multicast call and its
// delivery: Mark(stage, payload) takes the benchmark header's send time
// (bench/payload.go, CLOCK_MONOTONIC, which every process of one host
// shares) out of payload and records how long after it the message
// reached stage. Without the build tag stagetrace, Mark is an empty
// function the compiler removes and nothing is recorded.
//
// With the tag, a process that sets ATOLL_STAGETRACE=PREFIX writes every
// second to PREFIX.PID the count and the percentiles of each stage's
// samples since the start, one line per stage:
//
//	go build -tags stagetrace -o /tmp/st/atoll ./cmd/atoll
//	go build -tags stagetrace -o /tmp/st/clientload ./tests/bench/clientload
//	sudo apiab -v st=/tmp/st/atoll:/tmp/st/clientload:ATOLL_STAGETRACE=/tmp/st/agent:ATOLL_STAGETRACE=/tmp/st/client -rate 1000 -rounds 1
//
// ATOLL_STAGETRACE_SKIP=DURATION leaves out the messages sent less than
// DURATION after the first one the process marked: with apiab's warm-up
// of 1s, ATOLL_STAGETRACE_SKIP=1s counts about the measured window's
// messages, so that a stage's p99 compares with the window's.
//
// ATOLL_RTRACE=PREFIX beside it also writes an execution trace
// (runtime/trace) of each process to PREFIX.PID.trace for
// ATOLL_RTRACE_SECONDS (default 3) from its first mark, each mark a log
// event of it with the message's sender, sequence number and send time,
// to follow one message's goroutines, threads and wake-ups from process
// to process (go tool trace -d=parsed):
//
//	sudo apiab -v st=/tmp/st/atoll:/tmp/st/clientload:ATOLL_STAGETRACE=/tmp/st/agent+ATOLL_RTRACE=/tmp/st/agent:ATOLL_STAGETRACE=/tmp/st/client+ATOLL_RTRACE=/tmp/st/client -rate 1000 -rounds 1
//
// Marks that see a write (the client's to its agent, the agent's to a
// client) mark the first benchmark message in it.
//
// docs/BENCHMARKS.md, "Where a message's time goes" (2026-12-03) and "The
// client path at 1,000 msgs/s, stage by stage" (2026-12-06), have the
// stages and breakdowns measured with it.
package stagetrace
