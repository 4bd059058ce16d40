package dirty

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var mu sync.Mutex

func f() {
	_ = unix.Getpid
	_ = time.Now()
	go func() {}()
}
