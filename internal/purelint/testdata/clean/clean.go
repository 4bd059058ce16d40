package clean

import "github.com/atoll-gcs/atoll/localring"

var _ localring.NodeID
