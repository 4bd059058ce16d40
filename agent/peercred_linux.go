package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// unixPrincipals returns the ACL principals of the process at the other
// end of a Unix socket, from its credentials (SO_PEERCRED): uid:N and
// user:NAME, gid:N and unixgroup:NAME for its group and each supplementary
// group (as /proc/PID/status lists them, else as the group database does
// for its user); and a description of the peer for log lines.
func unixPrincipals(c syscall.Conn) ([]string, string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, "", err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, "", err
	}
	if cerr != nil {
		return nil, "", fmt.Errorf("peer credentials (SO_PEERCRED): %w", cerr)
	}
	uid := strconv.FormatUint(uint64(cred.Uid), 10)
	ps := []string{"uid:" + uid}
	peer := fmt.Sprintf("pid %d uid %d", cred.Pid, cred.Uid)
	var u *user.User
	if u, err = user.LookupId(uid); err == nil {
		ps = append(ps, "user:"+u.Username)
		peer += " (" + u.Username + ")"
	}
	gids := []string{strconv.FormatUint(uint64(cred.Gid), 10)}
	if more, ok := procGroups(cred.Pid); ok {
		gids = append(gids, more...)
	} else if u != nil {
		if more, err := u.GroupIds(); err == nil {
			gids = append(gids, more...)
		}
	}
	seen := map[string]bool{}
	for _, g := range gids {
		if seen[g] {
			continue
		}
		seen[g] = true
		ps = append(ps, "gid:"+g)
		if grp, err := user.LookupGroupId(g); err == nil {
			ps = append(ps, "unixgroup:"+grp.Name)
		}
	}
	return ps, peer, nil
}

// procGroups returns the supplementary groups of process pid from
// /proc/PID/status.
func procGroups(pid int32) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Groups:"); ok {
			return strings.Fields(rest), true
		}
	}
	return nil, false
}
