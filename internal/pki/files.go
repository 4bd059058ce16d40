package pki

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/internal/securefile"
	"github.com/atoll-gcs/atoll/topology"
)

// File names in a certificate directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// CertFile and KeyFile name a gateway's certificate and key files in a
// certificate directory: NODE.crt and NODE.key.
func CertFile(node string) string { return node + ".crt" }

// KeyFile names a gateway's private key file; see CertFile.
func KeyFile(node string) string { return node + ".key" }

// Gateway is a gateway-eligible node of the topology and the host names
// its certificate should carry as SANs.
type Gateway struct {
	Identity
	Hosts []string
}

// Gateways lists every gateway-eligible node of every site of f, in file
// order, with the host of its QUIC endpoint as a SAN.
func Gateways(f *topology.File) []Gateway {
	var gws []Gateway
	for i := range f.Sites {
		s := &f.Sites[i]
		for _, id := range s.Gateways {
			_, n, _ := f.Node(id)
			gw := Gateway{Identity: Identity{Cluster: f.Cluster, Site: s.Name, Node: id}}
			if ep := s.QUICEndpoint(n); ep != "" {
				if h, _, err := net.SplitHostPort(ep); err == nil && h != "" {
					gw.Hosts = append(gw.Hosts, h)
				}
			}
			gws = append(gws, gw)
		}
	}
	return gws
}

// Options of Make.
type Options struct {
	// Dir is the directory the files go to; it is created (mode 0700) if
	// missing.
	Dir string
	// Nodes, when set, makes certificates for these gateways only, signed by
	// the CA already in Dir (to add or renew gateways). Empty means a new
	// CA and a certificate for every gateway of the topology.
	Nodes []string
	// Force replaces existing files. Without it Make refuses to overwrite
	// anything and writes nothing.
	Force bool
	// Now is the start of validity; zero means time.Now().
	Now time.Time
	// CAValidity and CertValidity are the lifetimes of a new CA and of new
	// gateway certificates; zero means CAValidity and CertValidity.
	CAValidity, CertValidity time.Duration
}

// Made is one file pair Make wrote.
type Made struct {
	CertPath, KeyPath string
	Expiry            Expiry
}

// Make writes a cluster CA (unless opt.Nodes is set) and a certificate and
// private key for every gateway of f (or those of opt.Nodes), each named
// by its identity. Private keys are written with mode 0600. It refuses,
// before writing anything, when a file exists and opt.Force is not set
// (the error wraps fs.ErrExist).
func Make(f *topology.File, opt Options) ([]Made, error) {
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	gws := Gateways(f)
	if len(gws) == 0 {
		return nil, fmt.Errorf("pki: the topology of cluster %q lists no gateway-eligible node (sites[].gateways); nothing to issue", f.Cluster)
	}
	if len(opt.Nodes) > 0 {
		var sel []Gateway
		for _, n := range opt.Nodes {
			i := slices.IndexFunc(gws, func(g Gateway) bool { return g.Node == n })
			if i < 0 {
				return nil, fmt.Errorf("pki: node %q is not a gateway-eligible node of the topology (add it to its site's gateways first)", n)
			}
			sel = append(sel, gws[i])
		}
		gws = sel
	}
	var targets []string
	if len(opt.Nodes) == 0 {
		targets = append(targets, CACertFile, CAKeyFile)
	}
	for _, g := range gws {
		targets = append(targets, CertFile(g.Node), KeyFile(g.Node))
	}
	if !opt.Force {
		var exist []string
		for _, t := range targets {
			if _, err := os.Lstat(filepath.Join(opt.Dir, t)); err == nil {
				exist = append(exist, t)
			}
		}
		if len(exist) > 0 {
			return nil, fmt.Errorf("pki: %s already holds %s; refusing to overwrite (nothing was written): %w", opt.Dir, strings.Join(exist, ", "), fs.ErrExist)
		}
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var (
		ca   *CA
		err  error
		made []Made
	)
	if len(opt.Nodes) > 0 {
		ca, err = LoadCA(filepath.Join(opt.Dir, CACertFile), filepath.Join(opt.Dir, CAKeyFile))
		if err != nil {
			return nil, fmt.Errorf("%w (issuing for named nodes uses the CA already in %s; run without --node first)", err, opt.Dir)
		}
		if ca.Cert.Subject.CommonName != "atoll cluster CA "+f.Cluster {
			return nil, fmt.Errorf("pki: the CA in %s is %q, not the CA of cluster %q", opt.Dir, ca.Cert.Subject.CommonName, f.Cluster)
		}
	} else {
		if ca, err = MakeCA(f.Cluster, now, opt.CAValidity); err != nil {
			return nil, err
		}
		m, err := writePair(opt.Dir, CACertFile, CAKeyFile, ca.Cert, ca.Key, opt.Force, now)
		if err != nil {
			return nil, err
		}
		made = append(made, m)
	}
	for _, g := range gws {
		cert, key, err := ca.Issue(g.Identity, g.Hosts, now, opt.CertValidity)
		if err != nil {
			return made, err
		}
		m, err := writePair(opt.Dir, CertFile(g.Node), KeyFile(g.Node), cert, key, opt.Force, now)
		if err != nil {
			return made, err
		}
		made = append(made, m)
	}
	return made, nil
}

func writePair(dir, certName, keyName string, cert *x509.Certificate, key crypto.Signer, force bool, now time.Time) (Made, error) {
	kp, err := KeyPEM(key)
	if err != nil {
		return Made{}, err
	}
	m := Made{CertPath: filepath.Join(dir, certName), KeyPath: filepath.Join(dir, keyName), Expiry: ExpiryOf(cert, now)}
	if err := securefile.Write(m.KeyPath, kp, force); err != nil {
		return Made{}, fmt.Errorf("pki: private key: %w", err)
	}
	if err := securefile.Write(m.CertPath, CertPEM(cert), force); err != nil {
		return Made{}, fmt.Errorf("pki: certificate: %w", err)
	}
	return m, nil
}

// Check reads every *.crt file of dir and returns the expiry of each
// certificate in it as seen at now, sorted by file name.
func Check(dir string, now time.Time) ([]Made, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("pki: no certificate (*.crt) in %s", dir)
	}
	sort.Strings(names)
	var out []Made
	for _, n := range names {
		certs, err := readCerts(n)
		if err != nil {
			return out, err
		}
		for _, c := range certs {
			out = append(out, Made{CertPath: n, Expiry: ExpiryOf(c, now)})
		}
	}
	return out, nil
}
