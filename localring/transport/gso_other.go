//go:build !linux

package transport

import "net"

// gsoSupported reports false: UDP segmentation offload is Linux's only.
func gsoSupported(*net.UDPConn) bool { return false }

// segmentCmsgSpace is 0: no segmented sends here.
var segmentCmsgSpace = 0

func putSegmentSize([]byte, int) {}

// enableGRO reports false: coalesced receives are Linux's only.
func enableGRO(*net.UDPConn) bool { return false }

// groCmsgSpace is 0: no coalesced receives here.
var groCmsgSpace = 0

func groSize([]byte) int { return 0 }
