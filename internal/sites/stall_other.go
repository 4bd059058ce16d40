//go:build !unix

package sites

import (
	"errors"
	"time"
)

// StallProcess stops the whole process for d on Unix only (SIGSTOP).
func StallProcess(d time.Duration) (time.Duration, error) {
	return 0, errors.New("sites: a process stall needs SIGSTOP (Unix)")
}
