package transport

import "golang.org/x/net/ipv4"

// MulticastLoop reports the IP_MULTICAST_LOOP option of the socket an IPv4
// multicast transport sends from.
func MulticastLoop(u *UDP) (bool, error) { return ipv4.NewPacketConn(u.uc).MulticastLoopback() }
