// Package pki makes and checks the certificates of the federation: one
// cluster CA, and one certificate per gateway-eligible node that names the
// node's identity (cluster, site, node id) in a URI SAN,
//
//	atoll://CLUSTER/SITE/NODE
//
// Gateways authenticate each other with these certificates (mutual TLS 1.3
// over QUIC, package federation/transport) and take a peer's site and node
// id from its certificate, never from its address. Keys are ECDSA P-256;
// private keys are written with mode 0600 and never overwritten without
// being asked to.
//
// `atoll certs` drives it: MakeCA, then Issue for every gateway of the
// topology file (Gateways), then Check to print expiries; ExpiryWarning is
// the check the agent runs at start.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Scheme is the URI scheme of a gateway's identity SAN.
const Scheme = "atoll"

// Validity defaults and the expiry warning threshold.
const (
	// CAValidity is how long a new cluster CA is valid: ten years.
	CAValidity = 10 * 365 * 24 * time.Hour
	// CertValidity is how long a new gateway certificate is valid: one year.
	CertValidity = 365 * 24 * time.Hour
	// WarnBefore is how long before its expiry a certificate is reported as
	// expiring (ExpiryWarning, `atoll certs check`): 30 days.
	WarnBefore = 30 * 24 * time.Hour
)

// Identity is who a gateway certificate speaks for.
type Identity struct {
	Cluster string
	Site    string
	Node    string
}

// URI returns the identity as the certificate's URI SAN,
// atoll://CLUSTER/SITE/NODE.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: Scheme, Host: id.Cluster, Path: "/" + id.Site + "/" + id.Node}
}

// String returns "SITE/NODE of cluster CLUSTER".
func (id Identity) String() string {
	return id.Site + "/" + id.Node + " of cluster " + id.Cluster
}

// Validate checks that every part is set and is a plain name (no '/').
func (id Identity) Validate() error {
	for _, p := range [...]struct{ what, v string }{{"cluster", id.Cluster}, {"site", id.Site}, {"node", id.Node}} {
		if p.v == "" || strings.ContainsAny(p.v, "/ ") {
			return fmt.Errorf("pki: identity %q: %s %q must be a non-empty name without '/' or spaces", id.URI(), p.what, p.v)
		}
	}
	return nil
}

// ErrNoIdentity is wrapped by IdentityOf when a certificate carries no
// (or more than one, or a malformed) atoll identity.
var ErrNoIdentity = errors.New("pki: certificate carries no atoll gateway identity")

// IdentityOf returns the identity named by cert's atoll:// URI SAN. A
// certificate must carry exactly one.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var ids []Identity
	for _, u := range cert.URIs {
		if u.Scheme != Scheme {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) != 2 {
			return Identity{}, fmt.Errorf("%w: URI %q is not atoll://CLUSTER/SITE/NODE", ErrNoIdentity, u)
		}
		id := Identity{Cluster: u.Host, Site: parts[0], Node: parts[1]}
		if err := id.Validate(); err != nil {
			return Identity{}, fmt.Errorf("%w: %v", ErrNoIdentity, err)
		}
		ids = append(ids, id)
	}
	switch len(ids) {
	case 0:
		return Identity{}, fmt.Errorf("%w (subject %q has no %s:// URI SAN); issue it with `atoll certs`", ErrNoIdentity, cert.Subject.CommonName, Scheme)
	case 1:
		return ids[0], nil
	}
	return Identity{}, fmt.Errorf("%w: it names %d identities; a gateway certificate names exactly one", ErrNoIdentity, len(ids))
}

// CA is a cluster certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// MakeCA makes a new self-signed cluster CA valid from now (less a minute
// of clock skew) for validity (CAValidity if zero).
func MakeCA(cluster string, now time.Time, validity time.Duration) (*CA, error) {
	if cluster == "" {
		return nil, errors.New("pki: the cluster name is empty")
	}
	if validity <= 0 {
		validity = CAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "atoll cluster CA " + cluster, Organization: []string{"atoll cluster " + cluster}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue makes a gateway certificate for id, signed by ca, valid from now
// (less a minute of clock skew) for validity (CertValidity if zero; it is
// cut at the CA's own expiry). The certificate serves both ends of a
// connection (server and client auth). hosts are optional DNS names or IP
// addresses to add as SANs (gateways authenticate by identity, not host
// name; they help other TLS tools). It returns the certificate and its new
// private key.
func (ca *CA) Issue(id Identity, hosts []string, now time.Time, validity time.Duration) (*x509.Certificate, crypto.Signer, error) {
	if err := id.Validate(); err != nil {
		return nil, nil, err
	}
	if validity <= 0 {
		validity = CertValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key for %s: %w", id, err)
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: id.Node, OrganizationalUnit: []string{id.Site}, Organization: []string{"atoll cluster " + id.Cluster}},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URI()},
	}
	for _, h := range hosts {
		if ip := parseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create certificate for %s: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse certificate for %s: %w", id, err)
	}
	return cert, key, nil
}

// TLSCertificate returns cert and key as a tls.Certificate (with Leaf set),
// for a transport's configuration.
func TLSCertificate(cert *x509.Certificate, key crypto.Signer) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("pki: crypto/rand: " + err.Error()) // cannot happen since Go 1.24
	}
	return n.Add(n, big.NewInt(1))
}

// CertPEM encodes a certificate as PEM.
func CertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// KeyPEM encodes a private key as PKCS #8 PEM.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCerts decodes every CERTIFICATE block of PEM data.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("pki: no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// ParseKey decodes a PKCS #8 PEM private key.
func ParseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("pki: no PEM PRIVATE KEY block found")
		}
		if b.Type != "PRIVATE KEY" {
			continue
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse private key: %w", err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("pki: private key of type %T cannot sign", k)
		}
		return s, nil
	}
}

// LoadCA reads a CA certificate and its private key (for issuing).
func LoadCA(certFile, keyFile string) (*CA, error) {
	certs, err := readCerts(certFile)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA key: %w", err)
	}
	key, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", keyFile, err)
	}
	if !certs[0].IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certFile)
	}
	return &CA{Cert: certs[0], Key: key}, nil
}

// LoadRoots reads the cluster CA certificate(s) a gateway trusts.
func LoadRoots(certFile string) (*x509.CertPool, error) {
	certs, err := readCerts(certFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// LoadCertificate reads a gateway's certificate and private key.
func LoadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: load gateway certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return c, nil // Leaf is set since Go 1.23
}

func readCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: read certificate: %w", err)
	}
	certs, err := ParseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", file, err)
	}
	return certs, nil
}

// Verify checks that chain[0], with chain[1:] as intermediates, was issued
// by one of roots and is valid at now, for client or server auth, and
// returns the identity it names. Its errors keep x509's types
// (x509.UnknownAuthorityError, x509.CertificateInvalidError with Reason
// x509.Expired) or wrap ErrNoIdentity, so a caller can tell the causes
// apart (Classify).
func Verify(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, fmt.Errorf("%w: the peer sent no certificate", ErrNoIdentity)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return Identity{}, err
	}
	return IdentityOf(chain[0])
}

// Cause classifies why a certificate was refused.
type Cause int

// Causes of refusal.
const (
	// CauseOther: any other verification failure (a malformed chain, a
	// wrong key usage).
	CauseOther Cause = iota
	// CauseUnknownCA: signed by a CA that is not the cluster's.
	CauseUnknownCA
	// CauseExpired: expired, or not valid yet (check the clocks).
	CauseExpired
	// CauseIdentity: a valid certificate that names no identity, or one
	// that is not a gateway the topology allows here.
	CauseIdentity
)

func (c Cause) String() string {
	switch c {
	case CauseUnknownCA:
		return "unknown CA"
	case CauseExpired:
		return "expired certificate"
	case CauseIdentity:
		return "wrong identity"
	}
	return "bad certificate"
}

// Classify returns the cause of an error from Verify.
func Classify(err error) Cause {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return CauseUnknownCA
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return CauseExpired
	case errors.Is(err, ErrNoIdentity):
		return CauseIdentity
	}
	return CauseOther
}

// Expiry describes one certificate's validity at a given instant.
type Expiry struct {
	// Subject is SITE/NODE for a gateway certificate, else the subject's
	// common name.
	Subject string
	// Node is the gateway's node id; empty for a CA.
	Node     string
	IsCA     bool
	NotAfter time.Time
	// Left is NotAfter − now; negative when expired.
	Left time.Duration
}

// ExpiryOf returns cert's expiry as seen at now.
func ExpiryOf(cert *x509.Certificate, now time.Time) Expiry {
	e := Expiry{Subject: cert.Subject.CommonName, IsCA: cert.IsCA, NotAfter: cert.NotAfter, Left: cert.NotAfter.Sub(now)}
	if id, err := IdentityOf(cert); err == nil {
		e.Subject, e.Node = id.Site+"/"+id.Node, id.Node
	}
	return e
}

// Warning returns a line for the operator when the certificate has
// expired or expires within WarnBefore, and "" otherwise.
func (e Expiry) Warning() string {
	fix := "issue a new one with `atoll certs --node " + e.Node + " --force`"
	if e.IsCA {
		fix = "make a new CA and certificates for every gateway with `atoll certs --force`"
	} else if e.Node == "" {
		fix = "replace it"
	}
	at := e.NotAfter.UTC().Format(time.RFC3339)
	switch {
	case e.Left <= 0:
		return fmt.Sprintf("certificate of %s EXPIRED on %s and is refused by other gateways: %s", e.Subject, at, fix)
	case e.Left < WarnBefore:
		return fmt.Sprintf("certificate of %s expires on %s, in %d days: %s before then", e.Subject, at, int(e.Left.Hours()/24), fix)
	}
	return ""
}

// ExpiryWarning reads the certificate file certFile and returns a warning
// line when it (or a CA in it) has expired or expires within WarnBefore
// (30 days) of now, "" when all is well. The agent calls it at start and
// daily and logs the line.
func ExpiryWarning(certFile string, now time.Time) (string, error) {
	certs, err := readCerts(certFile)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, c := range certs {
		if w := ExpiryOf(c, now).Warning(); w != "" {
			lines = append(lines, certFile+": "+w)
		}
	}
	return strings.Join(lines, "; "), nil
}

func parseIP(s string) net.IP { return net.ParseIP(s) }
