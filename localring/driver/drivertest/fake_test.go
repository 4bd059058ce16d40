package drivertest_test

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/driver/drivertest"
)

func TestFakeContract(t *testing.T) {
	drivertest.TestTransport(t, func(t *testing.T, ids []localring.NodeID) []driver.Transport {
		var n drivertest.Network
		ts, err := n.Transports(ids)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	})
}
