package clean

import (
	"net"
	"time"
)

var _ = net.IPv4len
var _ = time.Now()
