package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	fedtransport "github.com/atoll-gcs/atoll/federation/transport"
	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/topology"
)

// The QUIC check dials, from a gateway-eligible node with its
// certificates, the QUIC endpoint of every gateway of the other sites of
// its federation domains, and completes a handshake with the domain's
// ALPN: the endpoint answers, and presents a certificate of the cluster CA
// naming its site. It sends no hello, so the peer closes the connection
// without installing it (and logs it at debug level only): the running
// federation ring is not disturbed. Standby gateways run no federation
// member, so a site passes when one of its gateways answers.

// quicTimeout bounds one handshake.
const quicTimeout = 3 * time.Second

// quicTarget is one gateway of another site to dial.
type quicTarget struct {
	domain, site, node, endpoint string
	alpns                        []string
}

// quicResult is what dialing a target found.
type quicResult struct {
	quicTarget
	err error
}

// quicReach checks the QUIC endpoints of the other sites' gateways.
func (d *doctor) quicReach(ctx context.Context, certDir string) {
	site, _, _ := d.topo.Node(d.node)
	cert, err := pki.LoadCertificate(filepath.Join(certDir, pki.CertFile(d.node)), filepath.Join(certDir, pki.KeyFile(d.node)))
	if err != nil {
		return // the certificates check said why
	}
	roots, err := pki.LoadRoots(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return
	}
	targets := quicTargets(d.topo, site.Name)
	if len(targets) == 0 {
		d.line(docInfo, "quic", fmt.Sprintf("site %s is in no federation domain with another site: no QUIC endpoint to check", site.Name))
		return
	}
	results := make([]quicResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { results[i] = quicResult{t, dialGateway(ctx, t, cert, roots)} })
	}
	wg.Wait()
	d.quicReport(results)
}

// quicTargets lists the gateways of the sites that share a federation
// domain with site.
func quicTargets(f *topology.File, site string) []quicTarget {
	p := f.Plan()
	var out []quicTarget
	for i := range p.Domains {
		dom := &p.Domains[i]
		if dom.Kind != topology.FederationDomain || !slices.Contains(dom.Sites, site) {
			continue
		}
		hash := p.ConfigHash(dom)
		alpns := []string{fedtransport.ALPN(fedtransport.ModeStreams, hash), fedtransport.ALPN(fedtransport.ModeDatagrams, hash), fedtransport.ALPN(fedtransport.ModeUDP, hash)}
		for _, g := range dom.Gateways {
			if g.Site == site || g.Active == "" {
				continue
			}
			for _, id := range append([]string{g.Active}, g.Standby...) {
				ep, _ := p.GatewayEndpoint(f, dom.Name, id)
				out = append(out, quicTarget{domain: dom.Name, site: g.Site, node: id, endpoint: ep, alpns: alpns})
			}
		}
	}
	return out
}

// dialGateway completes a QUIC handshake with t and checks its
// certificate, then closes the connection.
func dialGateway(ctx context.Context, t quicTarget, cert tls.Certificate, roots *x509.CertPool) error {
	addr, err := net.ResolveUDPAddr("udp", t.endpoint)
	if err != nil {
		return fmt.Errorf("cannot resolve the endpoint: %w; check sites[].quic in the topology file", err)
	}
	var verr error
	tc := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		NextProtos:             t.alpns,
		ServerName:             t.site,
		SessionTicketsDisabled: true,
		InsecureSkipVerify:     true, // VerifyConnection checks the chain and the identity instead of a host name
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := pki.Verify(cs.PeerCertificates, roots, time.Now())
			switch {
			case err != nil:
				verr = fmt.Errorf("it presents a certificate this node does not accept: %w; it must come from this cluster's CA (`atoll certs check` on both)", err)
			case id.Site != t.site:
				verr = fmt.Errorf("it presents the certificate of %s/%s, not of a gateway of site %s: the endpoint belongs to another gateway", id.Site, id.Node, t.site)
			}
			return verr
		},
	}
	ctx, cancel := context.WithTimeout(ctx, quicTimeout)
	defer cancel()
	qc, err := quic.DialAddr(ctx, t.endpoint, tc, &quic.Config{HandshakeIdleTimeout: quicTimeout, EnableDatagrams: true})
	switch {
	case verr != nil:
		return verr
	case err != nil:
		var te *quic.TransportError
		if errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError() {
			return fmt.Errorf("it refused the handshake (TLS alert %s): it does not accept this gateway's certificate or speaks another configuration (ALPN); its log names the cause", te.ErrorCode.Message())
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, new(*quic.IdleTimeoutError)) {
			return fmt.Errorf("no answer in %s: the gateway is down or a standby (which does not listen), or UDP to %s is blocked on the way (firewall, NAT)", quicTimeout, addr)
		}
		return err
	}
	qc.CloseWithError(0, "atoll doctor")
	return nil
}

// quicReport says, for every site, whether one of its gateways answered.
func (d *doctor) quicReport(results []quicResult) {
	type key struct{ domain, site string }
	var order []key
	bySite := map[key][]quicResult{}
	for _, r := range results {
		k := key{r.domain, r.site}
		if bySite[k] == nil {
			order = append(order, k)
		}
		bySite[k] = append(bySite[k], r)
	}
	for _, k := range order {
		rs := bySite[k]
		var fails []string
		ok := ""
		for _, r := range rs {
			if r.err == nil {
				ok = fmt.Sprintf("%s at %s", r.node, r.endpoint)
				break
			}
			fails = append(fails, fmt.Sprintf("%s at %s: %v", r.node, r.endpoint, r.err))
		}
		if ok != "" {
			d.line(docOK, "quic", fmt.Sprintf("domain %s: site %s's gateway %s completes a QUIC handshake and presents a valid certificate", k.domain, k.site, ok))
			continue
		}
		d.line(docFail, "quic", fmt.Sprintf("domain %s: no gateway of site %s completes a QUIC handshake: %s", k.domain, k.site, strings.Join(fails, "; ")))
	}
}
