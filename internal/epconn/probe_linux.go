//go:build linux

package epconn

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Watch is one epoll entry of this process on a connected Unix stream
// socket.
type Watch struct {
	Epoll  string // the epoll set's /proc/self/fdinfo path
	Inode  uint64 // the socket's inode
	Events uint32 // the events watched (EPOLLIN, EPOLLOUT, ...)
}

// SocketWatches lists every epoll entry of this process on a connected
// Unix stream socket of its own (from /proc/self/fdinfo and
// /proc/net/unix), and how many such sockets the process has: for tests
// that check which sockets are watched for room (EPOLLOUT).
func SocketWatches() (ws []Watch, sockets int, err error) {
	connected, err := connectedStreams()
	if err != nil {
		return nil, 0, err
	}
	mine := map[uint64]bool{}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, f := range fds {
		l, err := os.Readlink(f)
		if err != nil {
			continue
		}
		if v, ok := strings.CutPrefix(l, "socket:["); ok {
			ino, _ := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
			if connected[ino] {
				mine[ino] = true
			}
		}
	}
	infos, _ := filepath.Glob("/proc/self/fdinfo/*")
	for _, f := range infos {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			// tfd: N events: HEX data: HEX pos:N ino:HEX sdev:HEX
			if len(fs) < 4 || fs[0] != "tfd:" || fs[2] != "events:" {
				continue
			}
			ev, _ := strconv.ParseUint(fs[3], 16, 32)
			for _, x := range fs[4:] {
				if v, ok := strings.CutPrefix(x, "ino:"); ok {
					ino, _ := strconv.ParseUint(v, 16, 64)
					if mine[ino] {
						ws = append(ws, Watch{Epoll: f, Inode: ino, Events: uint32(ev)})
					}
				}
			}
		}
	}
	return ws, len(mine), nil
}

// RoomWatched reports whether w watches for room.
func (w Watch) RoomWatched() bool { return w.Events&unix.EPOLLOUT != 0 }

func (w Watch) String() string {
	return fmt.Sprintf("%s: socket inode %d, events %#x", w.Epoll, w.Inode, w.Events)
}

// connectedStreams returns the inodes of the connected Unix stream
// sockets of this network namespace.
func connectedStreams() (map[uint64]bool, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[uint64]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode [Path]
		fs := strings.Fields(sc.Text())
		if len(fs) < 7 || fs[4] != "0001" || fs[5] != "03" {
			continue
		}
		if ino, err := strconv.ParseUint(fs[6], 10, 64); err == nil {
			out[ino] = true
		}
	}
	return out, sc.Err()
}
