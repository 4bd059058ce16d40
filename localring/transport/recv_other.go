//go:build !linux

package transport

import (
	"net"
	"sync/atomic"
)

// rawBatchConn returns b: raw batch reads are Linux's only (recv_linux.go).
func rawBatchConn(_ *net.UDPConn, b batchConn) batchConn { return b }

// watchReads reports false: without raw reads, the reader's calls cannot
// be watched (pendingCheck).
func watchReads(batchConn, *atomic.Bool) bool { return false }
