package transport

import "syscall"

// RefuseSegments makes the kernel refuse u's segmented sends (UDP GSO)
// and take its plain ones, as a path without checksum offload does: with
// SO_NO_CHECK set, Linux sends UDP without a checksum and refuses to
// segment (EINVAL).
func RefuseSegments(u *UDP) error {
	rc, err := u.uc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1)
	}); err != nil {
		return err
	}
	return serr
}
