package agent

// RingHash is the hash of the ring settings every node of a site must
// share (Effective's RingSettings.ConfigHash; every packet carries it), as
// an agent started with c reports it: `atoll doctor` compares it with the
// running agent's and with its peers'.
func (c *Config) RingHash() string { return hex64(c.configHash()) }
