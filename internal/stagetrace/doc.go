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
// docs/BENCHMARKS.md, "Where a message's time goes", has the stages and
// a breakdown measured with it.
package stagetrace
