package topology_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/atoll-gcs/atoll/topology"
)

const twoSites = `
version: 1
cluster: example
classes:
  - {name: realtime, budget: 2ms}
  - {name: regional, budget: 40ms}
sites:
  - name: fra
    multicast: 239.192.1.1
    quic: gw.fra.example.net:7400
    nodes: [{id: fra-1}, {id: fra-2}, {id: fra-3}]
    gateways: [fra-1, fra-2]
  - name: ams
    multicast: 239.192.2.1
    quic: gw.ams.example.net:7400
    nodes: [{id: ams-1}, {id: ams-2}]
    gateways: [ams-1]
links:
  - {between: [fra, ams], rtt: 8ms}
groups:
  - {name: matching, class: realtime, sites: [fra]}
  - {name: orders, class: regional, sites: [fra, ams]}
`

// Parse a topology and plan it: each group lands in the smallest domain
// that meets its class budget.
func Example() {
	f, err := topology.Parse("example.yaml", []byte(twoSites))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := f.Plan()
	for _, g := range p.Groups {
		fmt.Printf("%s → %s (predicted max %s, budget %s)\n", g.Group, g.Domain, g.Latency.Max, g.Budget)
	}
	d, _ := p.Domain("fed/regional:ams+fra")
	fmt.Println("ring:", d.Ring, "token timeout:", d.Timeouts.Token)
	for _, gw := range d.Gateways {
		fmt.Println(gw.Site, "active", gw.Active, "standby", gw.Standby)
	}
	// Output:
	// matching → site/fra (predicted max 700us, budget 2ms)
	// orders → fed/regional:ams+fra (predicted max 29.8ms, budget 40ms)
	// ring: [ams fra] token timeout: 202ms
	// ams active ams-1 standby []
	// fra active fra-1 standby [fra-2]
}

// Every mistake in a file comes back at once, each with its place and a
// fix.
func ExampleErrorList() {
	_, err := topology.Parse("bad.yaml", []byte(`version: 1
cluster: example
classes: [{name: regional, budget: 40}]
sites:
  - {name: fra, multicast: 239.192.1.1, nodes: [{id: fra-1}], gatways: [fra-1]}
`))
	var list topology.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Println(e)
		}
	}
	// Output:
	// bad.yaml:3:36: classes[0].budget: duration "40" has no unit; add a unit, such as "40ms" or "40us"
	// bad.yaml:5:63: sites[0].gatways: unknown key "gatways"; did you mean "gateways"?
}

// Print a plan as a table (or JSON, or Graphviz DOT).
func ExamplePlan_Write() {
	f, _ := topology.Parse("example.yaml", []byte(twoSites))
	f.Plan().Write(os.Stdout, topology.FormatTable)
	// Output:
	// Plan for cluster example: 2 sites, 1 federation domain, 2 groups, 0 rejections
	//
	// DOMAIN                SITES    RING                   ROTATION  MEAN    MAX     GROUPS
	// site/ams              ams      ams-1 → ams-2          400us     300us   500us   -
	// site/fra              fra      fra-1 → fra-2 → fra-3  600us     400us   700us   matching
	// fed/regional:ams+fra  ams,fra  ams → fra ↺            8.2ms     25.2ms  29.8ms  orders
	//
	// DOMAIN                TOKEN  RETRANSMIT  CONSENSUS  JOIN
	// site/ams              202ms  48ms        243ms      50ms
	// site/fra              202ms  48ms        243ms      50ms
	// fed/regional:ams+fra  202ms  48ms        243ms      50ms
	//
	// DOMAIN                SITE  ACTIVE  STANDBY  QUIC ENDPOINT
	// fed/regional:ams+fra  ams   ams-1   -        gw.ams.example.net:7400
	// fed/regional:ams+fra  fra   fra-1   fra-2    gw.fra.example.net:7400
	//
	// GROUP     CLASS     BUDGET  SITES    DOMAIN                MAX     WHY
	// matching  realtime  2ms     fra      site/fra              700us   all members in site fra: its local ring predicts 700us ≤ budget 2ms
	// orders    regional  40ms    ams,fra  fed/regional:ams+fra  29.8ms  smallest domain holding ams, fra: predicts 29.8ms ≤ budget 40ms
	//
	// LINK     RTT  SOURCE
	// ams–fra  8ms  declared
}
