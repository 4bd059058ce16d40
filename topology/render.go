package topology

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Format is an output format of a plan.
type Format int

// Plan output formats.
const (
	// FormatTable is text tables for people.
	FormatTable Format = iota + 1
	// FormatJSON is the Plan as indented JSON, for tools.
	FormatJSON
	// FormatDOT is a Graphviz digraph of sites, rings and domains; render
	// it with "dot -Tsvg".
	FormatDOT
)

var formatNames = map[Format]string{FormatTable: "table", FormatJSON: "json", FormatDOT: "dot"}

func (f Format) String() string {
	if s, ok := formatNames[f]; ok {
		return s
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat returns the format called s: "table", "json" or "dot".
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if name == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("topology: unknown plan format %q; use table, json or dot", s)
}

// Write writes the plan to w in format f.
func (p *Plan) Write(w io.Writer, f Format) error {
	bw := bufio.NewWriter(w)
	switch f {
	case FormatTable:
		p.writeTable(bw)
	case FormatJSON:
		bw.Write(p.JSON())
	case FormatDOT:
		p.writeDOT(bw)
	default:
		return fmt.Errorf("topology: unknown plan format %v", f)
	}
	return bw.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func (p *Plan) writeTable(w io.Writer) {
	sites, feds := 0, 0
	for _, d := range p.Domains {
		if d.Kind == SiteDomain {
			sites++
		} else {
			feds++
		}
	}
	fmt.Fprintf(w, "Plan for cluster %s: %s, %s, %s, %s\n", p.Cluster, plural(sites, "site", "sites"),
		plural(feds, "federation domain", "federation domains"), plural(len(p.Groups), "group", "groups"),
		plural(len(p.Rejections), "rejection", "rejections"))

	tw := func(header string) *tabwriter.Writer {
		fmt.Fprintf(w, "\n")
		t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(t, header)
		return t
	}

	t := tw("DOMAIN\tSITES\tRING\tROTATION\tMEAN\tMAX\tGROUPS")
	for _, d := range p.Domains {
		ring := strings.Join(d.Ring, " → ")
		if d.Kind == FederationDomain {
			ring += " ↺"
			if !d.ExactOrder {
				ring += " (heuristic)"
			}
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, strings.Join(d.Sites, ","), ring,
			d.Latency.Rotation, d.Latency.Mean, d.Latency.Max, dash(strings.Join(d.Groups, ",")))
	}
	t.Flush()

	t = tw("DOMAIN\tTOKEN\tRETRANSMIT\tCONSENSUS\tJOIN")
	for _, d := range p.Domains {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Timeouts.Token, d.Timeouts.Retransmit, d.Timeouts.Consensus, d.Timeouts.Join)
	}
	t.Flush()

	if feds > 0 {
		t = tw("DOMAIN\tSITE\tACTIVE\tSTANDBY\tQUIC ENDPOINT")
		for _, d := range p.Domains {
			for _, g := range d.Gateways {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", d.Name, g.Site, dash(g.Active), dash(strings.Join(g.Standby, ",")), dash(g.Endpoint))
			}
		}
		t.Flush()
	}

	if len(p.Groups) > 0 {
		t = tw("GROUP\tCLASS\tBUDGET\tSITES\tDOMAIN\tMAX\tWHY")
		for _, g := range p.Groups {
			max := "-"
			if g.Domain != "" {
				max = g.Latency.Max.String()
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Group, g.Class, g.Budget, strings.Join(g.Sites, ","), dash(g.Domain), max, g.Reason)
		}
		t.Flush()
	}

	if len(p.Links) > 0 {
		t = tw("LINK\tRTT\tSOURCE")
		for _, l := range p.Links {
			src := "declared"
			if len(l.Via) > 0 {
				src = "derived via " + strings.Join(l.Via, ",")
			}
			switch {
			case l.Stripes > 1:
				src += fmt.Sprintf(", %d QUIC stripes", l.Stripes)
			case l.Stripes == 1:
				src += ", 1 QUIC connection"
			}
			fmt.Fprintf(t, "%s–%s\t%s\t%s\n", l.Between[0], l.Between[1], l.RTT, src)
		}
		t.Flush()
	}

	if len(p.Rejections) > 0 {
		fmt.Fprintf(w, "\nREJECTIONS\n")
		for _, r := range p.Rejections {
			fmt.Fprintf(w, "%d:%d: %s: %s: %s\n    fix: %s\n", r.Line, r.Col, r.Path, r.Kind, r.Msg, r.Fix)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dotPalette colours the federation rings.
var dotPalette = []string{"#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"}

// dotID quotes s as a DOT string.
func dotID(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func (p *Plan) writeDOT(w io.Writer) {
	fmt.Fprintf(w, "digraph atoll {\n")
	fmt.Fprintf(w, "  graph [label=%s, labelloc=t, fontname=\"Helvetica\", rankdir=LR, overlap=false];\n", dotID("Atoll plan: cluster "+p.Cluster))
	fmt.Fprintf(w, "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f4f4f4\", fontname=\"Helvetica\", fontsize=11];\n")
	fmt.Fprintf(w, "  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, d := range p.Domains {
		if d.Kind != SiteDomain {
			continue
		}
		site := d.Sites[0]
		lines := []string{site, fmt.Sprintf("%s: %s", d.Name, plural(len(d.Ring), "node", "nodes")), "local max " + d.Latency.Max.String()}
		if len(d.Groups) > 0 {
			lines = append(lines, "groups: "+strings.Join(d.Groups, ", "))
		}
		fmt.Fprintf(w, "  %s [label=%s];\n", dotID(site), dotID(strings.Join(lines, "\n")))
	}
	k := 0
	for _, d := range p.Domains {
		if d.Kind != FederationDomain {
			continue
		}
		color := dotPalette[k%len(dotPalette)]
		k++
		rtt := map[[2]string]Duration{}
		for _, l := range p.Links {
			rtt[l.Between] = l.RTT
		}
		for i, a := range d.Ring {
			b := d.Ring[(i+1)%len(d.Ring)]
			key := [2]string{min(a, b), max(a, b)}
			fmt.Fprintf(w, "  %s -> %s [color=%s, fontcolor=%s, penwidth=2, label=%s, tooltip=%s];\n",
				dotID(a), dotID(b), dotID(color), dotID(color), dotID(rtt[key].String()), dotID(d.Name))
		}
		var gws []string
		for _, g := range d.Gateways {
			gws = append(gws, g.Site+": "+dash(g.Active))
		}
		legend := fmt.Sprintf("%s\nmax %s, rotation %s\ngroups: %s\ngateways: %s", d.Name, d.Latency.Max, d.Latency.Rotation,
			dash(strings.Join(d.Groups, ", ")), strings.Join(gws, ", "))
		fmt.Fprintf(w, "  %s [shape=note, color=%s, fontcolor=%s, fillcolor=\"#ffffff\", label=%s];\n", dotID("legend "+d.Name), dotID(color), dotID(color), dotID(legend))
	}
	for _, r := range p.Rejections {
		fmt.Fprintf(w, "  %s [shape=octagon, color=\"#cc0000\", fontcolor=\"#cc0000\", fillcolor=\"#fff0f0\", label=%s];\n",
			dotID(fmt.Sprintf("rejection %d:%d", r.Line, r.Col)), dotID(fmt.Sprintf("rejected (%s) at %d:%d\n%s", r.Kind, r.Line, r.Col, wrap(r.Msg, 60))))
	}
	fmt.Fprintf(w, "}\n")
}

// wrap breaks s into lines of about width characters.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		if i > 0 {
			if n+1+len(word) > width {
				b.WriteString("\n")
				n = 0
			} else {
				b.WriteString(" ")
				n++
			}
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
