package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/evs"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/internal/waittest"
)

// TestGroupsAcrossAgents: clients on three agents, over the Unix socket
// and in process, join groups, see the same views in the same order,
// receive multi-group multicasts once each in one order, and receive
// point-to-point messages in order with the sender's multicasts. The
// agents' traces pass the EVS checker.
func TestGroupsAcrossAgents(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll(nil)
	ctx := bounded(t)

	type member struct {
		c *client.Client
		r *recorder
	}
	var ms []member
	for i, id := range c.ids {
		for k := range 2 {
			name := fmt.Sprintf("c%d", k)
			var cl *client.Client
			if (i+k)%2 == 0 {
				cl = c.dial(id, name)
			} else {
				cl = c.local(id, name)
			}
			if want := id + ":" + name; cl.Name() != want || cl.Node() != id {
				t.Fatalf("client name %s on %s, want %s", cl.Name(), cl.Node(), want)
			}
			ms = append(ms, member{cl, record(t, cl)})
		}
	}
	// Everyone joins g1, one at a time; every other client joins g2 too.
	var all, evens []string
	for i, m := range ms {
		if err := m.c.Join(ctx, "g1"); err != nil {
			t.Fatal(err)
		}
		all = append(all, m.c.Name())
		m.r.waitView("g1", all...)
		if i%2 == 0 {
			if err := m.c.Join(ctx, "g2"); err != nil {
				t.Fatal(err)
			}
			evens = append(evens, m.c.Name())
			m.r.waitView("g2", evens...)
		}
	}
	// An outsider joins only g2.
	out := c.dial("n3", "outsider")
	outR := record(t, out)
	if err := out.Join(ctx, "g2"); err != nil {
		t.Fatal(err)
	}
	outR.waitView("g2", append(slices.Clone(evens), out.Name())...)
	for _, m := range ms {
		m.r.waitView("g1", all...)
	}

	// Views: the same id has the same members everywhere, and each
	// member's sequence is the tail of the first member's.
	first := ms[0].r.views("g1")
	for _, m := range ms[1:] {
		vs := m.r.views("g1")
		if len(vs) == 0 || len(vs) > len(first) {
			t.Fatalf("%s: %d views of g1, the first member %d", m.c.Name(), len(vs), len(first))
		}
		tail := first[len(first)-len(vs):]
		for i := range vs {
			if vs[i].ID != tail[i].ID || !slices.Equal(vs[i].Members, tail[i].Members) {
				t.Errorf("%s: view %d of g1 is %s %v; the first member has %s %v", m.c.Name(), i, vs[i].ID, vs[i].Members, tail[i].ID, tail[i].Members)
			}
		}
		if vs[0].Reason != client.ReasonJoin || !slices.Contains(vs[0].Joined, m.c.Name()) {
			t.Errorf("%s: first view of g1 %+v does not say it joined", m.c.Name(), vs[0])
		}
	}

	// Multicasts from every client at once, to g1 or to g1 and g2, at
	// several service levels.
	const per = 25
	svcs := []client.Service{client.Agreed, client.Safe, client.FIFO, client.Causal, client.Reliable}
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			for k := range per {
				gs := []string{"g1"}
				if k%2 == 1 {
					gs = []string{"g2", "g1"}
				}
				payload := fmt.Sprintf("%s/%d", m.c.Name(), k)
				for {
					err := m.c.Multicast(ctx, svcs[(i+k)%len(svcs)], uint16(k), gs, []byte(payload))
					if err == nil {
						break
					}
					if !errors.Is(err, client.ErrBackpressure) {
						t.Errorf("Multicast: %v", err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
			if err := m.c.Flush(ctx); err != nil {
				t.Errorf("Flush: %v", err)
			}
		})
	}
	waittest.Group(t, &wg, 60*time.Second, "the senders' multicasts and flushes")
	total := per * len(ms)
	var order []string
	for _, m := range ms {
		got := m.r.waitMessages(total)
		if len(got) != total {
			t.Fatalf("%s received %d messages, want %d", m.c.Name(), len(got), total)
		}
		if order == nil {
			order = got
		} else if !slices.Equal(got, order) {
			t.Errorf("%s received the messages in another order than %s", m.c.Name(), ms[0].c.Name())
		}
	}
	// The outsider gets the g2 ones, in the same relative order.
	var g2 []string
	for _, p := range order {
		k, _ := strconv.Atoi(p[strings.LastIndexByte(p, '/')+1:])
		if k%2 == 1 {
			g2 = append(g2, p)
		}
	}
	if got := outR.waitMessages(len(g2)); !slices.Equal(got, g2) {
		t.Errorf("the g2-only member got %d messages %v..., want the %d g2 ones in order", len(got), got[:min(3, len(got))], len(g2))
	}
	for _, e := range ms[1].r.snapshot() {
		if e.Kind == client.EventMessage && e.Message.Sender == ms[0].c.Name() && e.Message.Type == 1 {
			if m := e.Message; !slices.Equal(m.Groups, []string{"g2", "g1"}) || m.Svc != svcs[1] || m.Order == 0 || m.ID == "" {
				t.Errorf("message fields: %+v", m)
			}
		}
	}

	// Point-to-point, between two multicasts of the sender: the receiver
	// sees the three in the sender's order; nobody else sees it.
	a, b := ms[0], ms[5]
	before := len(b.r.messages())
	for _, step := range []func() error{
		func() error { return a.c.Multicast(ctx, client.Agreed, 0, []string{"g1"}, []byte("m1")) },
		func() error { return a.c.Send(ctx, b.c.Name(), client.FIFO, 7, []byte("p")) },
		func() error { return a.c.Multicast(ctx, client.Agreed, 0, []string{"g1"}, []byte("m2")) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.r.waitMessages(before + 3)[before:]; !slices.Equal(got, []string{"m1", "p", "m2"}) {
		t.Errorf("receiver of the point-to-point message got %v, want [m1 p m2]", got)
	}
	for _, e := range b.r.snapshot() {
		if e.Kind == client.EventMessage && string(e.Message.Payload) == "p" && (e.Message.To != b.c.Name() || e.Message.Type != 7 || e.Message.Sender != a.c.Name()) {
			t.Errorf("point-to-point message: %+v", e.Message)
		}
	}
	if got := ms[1].r.waitMessages(before + 2); slices.Contains(got, "p") {
		t.Errorf("a third client got the point-to-point message")
	}

	// Leave, then close: a self-leave event, and views with the reasons.
	if err := ms[5].c.Leave(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	ms[5].r.wait("self-leave", func(es []client.Event) bool {
		return slices.ContainsFunc(es, func(e client.Event) bool { return e.Kind == client.EventLeft && e.Group == "g1" })
	})
	if v := ms[0].r.waitView("g1", all[:5]...); v.Reason != client.ReasonLeave {
		t.Errorf("view after a leave: %+v", v)
	}
	ms[4].c.Close()
	if v := ms[0].r.waitView("g1", all[:4]...); v.Reason != client.ReasonDisconnect || !slices.Equal(v.Left, all[4:5]) {
		t.Errorf("view after a close: %+v", v)
	}
	if !errors.Is(ms[4].c.Err(), client.ErrClosed) || ms[4].c.Join(ctx, "g1") != client.ErrClosed {
		t.Errorf("after Close: Err %v", ms[4].c.Err())
	}

	// Groups and View.
	gs, err := ms[0].c.Groups(ctx)
	if err != nil || len(gs) != 2 || gs[0].Group != "g1" || gs[0].Members != 4 || gs[1].Members != 3 {
		t.Errorf("Groups: %+v %v", gs, err)
	}
	v, found, err := out.View(ctx, "g1")
	if err != nil || !found || !slices.Equal(v.Members, all[:4]) {
		t.Errorf("View(g1): %+v %v %v", v, found, err)
	}
	if _, found, err := out.View(ctx, "nobody"); found || err != nil {
		t.Errorf("View(nobody): %v %v", found, err)
	}

	c.stopAll()
	traces := c.check(false)
	views := 0
	for _, e := range traces {
		if e.Ev == evs.EvView && e.Group == "g1" {
			views++
		}
	}
	if views == 0 {
		t.Errorf("no views of g1 in the traces")
	}
}

// TestACL: the topology file's ACLs across agents, and the ring's own
// check of node principals when an agent lacks the rules.
func TestACL(t *testing.T) {
	other := "uid:" + strconv.Itoa(os.Getuid()+4242)
	rules := []agent.GroupACL{
		{Group: "announce", Send: []string{"node:n1"}},
		{Group: "locked", Join: []string{other}},
	}
	c := newCluster(t, 3)
	c.start("n1", func(cfg *agent.Config) { cfg.GroupACLs = rules })
	c.start("n2", func(cfg *agent.Config) { cfg.GroupACLs = rules })
	c.start("n3", nil) // an agent with an older topology file: no rules
	c.waitRing(c.ids)
	ctx := bounded(t)

	listener := c.dial("n2", "listener")
	lr := record(t, listener)
	if err := listener.Join(ctx, "announce"); err != nil {
		t.Fatal(err)
	}
	lr.waitView("announce", "n2:listener")

	boss := c.local("n1", "boss")
	if err := boss.Multicast(ctx, client.Agreed, 0, []string{"announce"}, []byte("from n1")); err != nil {
		t.Fatal(err)
	}
	lr.waitMessages(1)

	// Denied by the client's own agent: the error comes back as an event.
	intruder := c.local("n2", "intruder")
	ir := record(t, intruder)
	if err := intruder.Multicast(ctx, client.Agreed, 0, []string{"announce"}, []byte("from n2")); err != nil {
		t.Fatal(err)
	}
	ir.wait("a denial", func(es []client.Event) bool { return len(es) > 0 })
	if errs := ir.errors(); len(errs) != 1 || errs[0].Code != client.CodeDenied || errs[0].Op != "multicast" || errs[0].Group != "announce" ||
		!strings.Contains(errs[0].Text, "node:n2") {
		t.Errorf("denial event: %+v", errs)
	}

	// Denied by the ring's order: n3 does not know the rules, the ring's
	// ACL (set by n1 and n2) names node n1 only.
	rogue := c.local("n3", "rogue")
	rr := record(t, rogue)
	if err := rogue.Multicast(ctx, client.Agreed, 0, []string{"announce"}, []byte("from n3")); err != nil {
		t.Fatal(err)
	}
	rr.wait("a denial", func(es []client.Event) bool { return len(es) > 0 })
	if errs := rr.errors(); len(errs) != 1 || errs[0].Code != client.CodeDenied || errs[0].Seq == 0 || !strings.Contains(errs[0].Text, "ring's order") {
		t.Errorf("ring denial event: %+v", errs)
	}

	// A join denied at once.
	err := listener.Join(ctx, "locked")
	if !errors.Is(err, client.ErrDenied) || client.CodeOf(err) != client.CodeDenied || !strings.Contains(err.Error(), other) {
		t.Errorf("join of a locked group: %v", err)
	}
	if got := lr.messages(); !slices.Equal(got, []string{"from n1"}) {
		t.Errorf("listener got %v, want only the message from n1", got)
	}
}

// TestSlowConsumer: a client that does not read its events is
// disconnected by its agent and finds out why; the others go on.
func TestSlowConsumer(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll(func(cfg *agent.Config) { cfg.ClientQueueBytes = 1 << 20 })
	ctx := bounded(t)
	slow := c.dial("n1", "slow", client.WithEventBuffer(1))
	fast := c.local("n1", "fast")
	fr := record(t, fast)
	for _, cl := range []*client.Client{slow, fast} {
		if err := cl.Join(ctx, "g"); err != nil {
			t.Fatal(err)
		}
	}
	fr.waitView("g", "n1:slow", "n1:fast")
	payload := make([]byte, 4000)
	sent := 0
	for c.agents["n1"].a.Status().Counters.ClientsEvicted == 0 {
		if sent > 5000 {
			t.Fatalf("no eviction after %d messages", sent)
		}
		if err := fast.MulticastWait(ctx, client.Agreed, 0, []string{"g"}, payload); err != nil {
			t.Fatal(err)
		}
		sent++
		if sent%100 == 0 {
			fast.Flush(ctx)
		}
	}
	if v := fr.waitView("g", "n1:fast"); v.Reason != client.ReasonDisconnect {
		t.Errorf("view after the eviction: %+v", v)
	}
	fast.Flush(ctx)
	fr.waitMessages(sent)
	// The slow client reads what it was sent, then learns why it ended.
	drain(slow)
	err := slow.Err()
	if err == nil || errors.Is(err, client.ErrClosed) {
		t.Errorf("the evicted client's session ended with %v", err)
	}
	t.Logf("evicted client's error: %v", err)
	if !errors.Is(err, client.ErrSlowConsumer) || !strings.Contains(err.Error(), "evicted by agent n1") {
		t.Errorf("evicted with %v, want CodeSlowConsumer with the agent's reason", err)
	}
}

// TestShutdown: a client of a stopping agent learns it from its error.
func TestShutdown(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll(nil)
	cl := c.dial("n1", "x")
	if err := cl.Join(bounded(t), "g"); err != nil {
		t.Fatal(err)
	}
	c.stop("n1")
	drain(cl)
	if err := cl.Err(); !errors.Is(err, client.ErrShuttingDown) || !strings.Contains(err.Error(), "agent n1 is shutting down") {
		t.Errorf("after the agent stopped: %v", err)
	}
	if err := cl.Multicast(context.Background(), client.Agreed, 0, []string{"g"}, nil); !errors.Is(err, client.ErrShuttingDown) {
		t.Errorf("Multicast after the end: %v", err)
	}
}

// stuckAgent says welcome, then never reads again: the client's writes
// block, as on a congested network.
type stuckAgent struct{ t *testing.T }

func (s stuckAgent) LocalConn() (net.Conn, error) {
	c1, c2 := net.Pipe()
	s.t.Cleanup(func() { c2.Close() })
	go func() {
		if _, err := cp.NewReader(c2).Next(); err != nil {
			return
		}
		c2.Write(cp.Append(nil, &cp.Frame{Type: cp.TypeWelcome, Version: 1, Name: "n1:x", Node: "n1", MaxMessage: 1 << 20, MaxFrame: cp.MaxFrame}))
	}()
	return c1, nil
}

// TestNeverBlocks: with a network that takes nothing, Multicast returns
// at once with back-pressure once the send queue is full, and Join
// returns when its context ends.
func TestNeverBlocks(t *testing.T) {
	ctx := bounded(t)
	cl, err := client.DialAgent(ctx, stuckAgent{t}, client.WithSendQueue(4, 0))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var bp error
	for i := range 10 {
		if err := cl.Multicast(ctx, client.Agreed, 0, []string{"g"}, []byte{byte(i)}); err != nil {
			bp = err
			break
		}
	}
	if !errors.Is(bp, client.ErrBackpressure) || client.CodeOf(bp) != client.CodeBackpressure {
		t.Errorf("a full send queue: %v, want back-pressure", bp)
	}
	jctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	// The writer may have taken the queue into its blocked write: then
	// the join is queued and waits for its context.
	if err := cl.Join(jctx, "g"); !errors.Is(err, client.ErrBackpressure) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Join with a stuck network: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the calls took %v", d)
	}
	// Arguments are checked before anything is queued.
	for _, tc := range []struct {
		err  error
		code client.Code
	}{
		{cl.Multicast(ctx, client.Agreed, 0, []string{"bad name"}, nil), client.CodeBadName},
		{cl.Multicast(ctx, client.Agreed, 0, nil, nil), client.CodeInvalid},
		{cl.Multicast(ctx, 0, 0, []string{"g"}, nil), client.CodeInvalid},
		{cl.Multicast(ctx, client.Safe, 0, []string{"g"}, make([]byte, 1<<20+1)), client.CodeTooLarge},
		{cl.Send(ctx, "no-colon", client.Agreed, 0, nil), client.CodeBadName},
		{cl.Join(ctx, ""), client.CodeBadName},
	} {
		if client.CodeOf(tc.err) != tc.code {
			t.Errorf("%v: want code %s", tc.err, tc.code)
		}
	}
	cl.Close()
	if err := cl.Multicast(ctx, client.Agreed, 0, []string{"g"}, nil); err != client.ErrClosed {
		t.Errorf("after Close: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for addr, want := range map[string]string{
		"tcp://localhost:1":          "TLS only",
		"localhost:1":                "use unix://",
		"tcp+tls://nohostport":       "want tcp+tls://host:port",
		"unix:///nonexistent/x.sock": "cannot reach the agent",
	} {
		if _, err := client.Dial(ctx, addr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dial(%q): %v, want an error with %q", addr, err, want)
		}
	}
}

// TestTLS: a client over TCP with mutual TLS is known by its
// certificate's common name; one without a certificate is refused.
func TestTLS(t *testing.T) {
	ca := newCA(t)
	serverCert := ca.issue(t, "n1", true)
	c := newCluster(t, 1)
	c.startAll(func(cfg *agent.Config) {
		cfg.ClientListen = "127.0.0.1:0"
		cfg.ClientTLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool}
		cfg.GroupACLs = []agent.GroupACL{{Group: "orders", Join: []string{"cn:orders-svc"}}}
	})
	addrs := c.agents["n1"].a.ClientAddrs()
	if len(addrs) != 2 || !strings.HasPrefix(addrs[1], "tcp+tls://127.0.0.1:") {
		t.Fatalf("ClientAddrs: %v", addrs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dial := func(cn string) (*client.Client, error) {
		cfg := &tls.Config{RootCAs: ca.pool}
		if cn != "" {
			cfg.Certificates = []tls.Certificate{ca.issue(t, cn, false)}
		}
		return client.Dial(ctx, addrs[1], client.WithTLS(cfg))
	}
	svc, err := dial("orders-svc")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	r := record(t, svc)
	if err := svc.Join(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	r.waitView("orders", svc.Name())
	other, err := dial("someone-else")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Join(ctx, "orders"); !errors.Is(err, client.ErrDenied) || !strings.Contains(err.Error(), "cn:someone-else") {
		t.Errorf("join by another certificate: %v", err)
	}
	if cl, err := dial(""); err == nil {
		cl.Close()
		t.Errorf("a client without a certificate was admitted")
	} else {
		t.Logf("without a certificate: %v", err)
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial = big.NewInt(1)

func (ca *testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial = new(big.Int).Add(serial, big.NewInt(1))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestDuplicateName: a second session asking for a name the agent's
// first session uses fails promptly with CodeNameInUse, naming the agent
// and the name, over the socket and in process; the first goes on.
func TestDuplicateName(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll(nil)
	first := c.dial("n1", "dup")
	path := "unix://" + filepath.Join(c.dir, "n1", agent.ClientSocketName)
	dials := map[string]func(context.Context) (*client.Client, error){
		"Dial": func(ctx context.Context) (*client.Client, error) {
			return client.Dial(ctx, path, client.WithName("dup"))
		},
		"DialAgent": func(ctx context.Context) (*client.Client, error) {
			return client.DialAgent(ctx, c.agents["n1"].a, client.WithName("dup"))
		},
	}
	for how, dial := range dials {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl, err := dial(ctx)
		cancel()
		if err == nil {
			cl.Close()
			t.Fatalf("%s as dup a second time: no error", how)
		}
		var e *client.Error
		if !errors.As(err, &e) || !errors.Is(err, client.ErrNameInUse) || e.Op != "hello" ||
			!strings.Contains(err.Error(), `"dup"`) || !strings.Contains(err.Error(), "agent n1") {
			t.Errorf("%s as dup a second time: %v; want a hello error name_in_use naming dup and agent n1", how, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.Join(ctx, "g"); err != nil {
		t.Fatalf("first session after the refused ones: %v", err)
	}
	if first.Err() != nil {
		t.Errorf("first session ended: %v", first.Err())
	}
}
