// Package topology reads the topology file of an Atoll cluster and plans
// its EVS domains.
//
// # The file
//
// One YAML file describes the world: the cluster name, the latency classes
// (a name and a budget, such as realtime: 2ms), the sites (LANs whose nodes
// form one local Totem ring, with bind addresses as go-sockaddr templates,
// a multicast group or unicast peers, gateway-eligible nodes and a QUIC
// endpoint), the links between sites with their round-trip times, and the
// groups (a name or pattern, a class, the sites their members run in, an
// ACL). docs/TOPOLOGY.md is the reference; docs/topology.schema.json is a
// JSON Schema generated from the types of this package, for editors.
//
// Reading is strict and complete. Parse (or Load) decodes the YAML through
// its node tree, so every mistake has a line and a column; unknown keys,
// duplicate keys, values of the wrong kind and durations without units are
// mistakes; and it does not stop at the first one. Every mistake is an
// *Error whose text reads
//
//	file:line:col: field.path: what is wrong; how to fix it
//
// and the error returned is an ErrorList holding all of them in file order.
// No input makes Parse panic (FuzzParse checks it).
//
//	f, err := topology.Load("atoll.yaml")
//	var list topology.ErrorList
//	if errors.As(err, &list) {
//		for _, e := range list {
//			fmt.Println(e) // one mistake per line
//		}
//	}
//
// Decode, Check and Validate are the steps Parse is made of: strict
// decoding, the file's own consistency (duplicate ids, unknown references,
// gateways outside their site, bad templates, overlapping multicast groups),
// and Check plus what the planner must reject (budgets that cannot be met,
// sites with no path between them, links too thin for their traffic).
//
// # Bind addresses
//
// A node's bind address is a go-sockaddr template, evaluated on the node.
// Validation never looks at the machine it runs on: CheckBind parses the
// template and runs it against a made-up sample host. An agent calls
// ResolveBind at start, which evaluates the template on the real host and
// insists on exactly one address, listing the candidates otherwise.
//
// # The planner
//
// File.Plan is a pure, deterministic function from a file to a Plan:
//
//   - every site is a domain of its own (its local ring);
//   - for each class, tightest budget first, the sites of its multi-site
//     groups are joined into federation domains, each meeting the class
//     budget under the latency model, fewer domains preferred;
//   - each group is placed in the smallest domain that holds all its sites
//     and meets its budget (a domain formed for a tighter class will do);
//   - each federation ring is ordered to minimise its token rotation time
//     (RingOrder: exact up to ExactRingSites sites);
//   - every ring gets timeouts derived from its RTTs (DeriveTimeouts);
//   - every site of a federation domain gets an active gateway and standbys;
//   - whatever cannot be done becomes a Rejection with the numbers (which
//     link, predicted against budget) and a fix.
//
// The latency model is PredictAgreedLatency for one ring and
// PredictFederatedLatency for a federation domain over local rings;
// docs/PLANNER.md states it, with the algorithms and their bounds.
//
// Plan.Write prints a plan as a table, as JSON or as a Graphviz picture;
// the atoll command's plan and validate subcommands are thin wrappers
// around this package.
package topology
