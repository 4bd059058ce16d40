package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// clockSynced asks the kernel whether the system clock is synchronized
// (adjtimex: not TIME_ERROR, STA_UNSYNC clear) and its estimated error;
// known is false when it cannot tell.
func clockSynced() (synced bool, esterror time.Duration, known bool) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, 0, false
	}
	const timeError, staUnsync = 5, 0x40
	return state != timeError && tx.Status&staUnsync == 0, time.Duration(tx.Esterror) * time.Microsecond, true
}
