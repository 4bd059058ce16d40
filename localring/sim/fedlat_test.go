package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/topology"
)

// fedLatency is what TestFedLatencyVsPlanner measures of one ring.
type fedLatency struct {
	rotation      time.Duration // mean token rotation
	median, p99   time.Duration // Agreed latency, send to delivery at the last member
	mean, maximum time.Duration
	messages      int
}

// measureFedLatency runs the federation ring of spec without faults or
// jitter, with symmetric delays, and submits one Agreed message at a time
// from a random site at uniformly random instants (light load), for
// virtual time d after the ring formed.
func measureFedLatency(t *testing.T, spec FedSpec, d time.Duration) fedLatency {
	t.Helper()
	spec.Gateways = 1
	c := NewFedCluster(1, spec, 0)
	c.SetFaults(Faults{SocketBuffer: 4096})
	w := watchLastDelivery(c)
	c.StartAll()
	if !c.RunUntil(c.Now().Add(time.Minute), c.Converged) {
		t.Fatalf("%s: the ring did not form: %s", spec.Domain, c.describe())
	}
	c.RunFor(5 * time.Second)
	rng := rand.New(rand.NewPCG(7, 7))
	start, tok0 := c.Now(), c.Unicasts(0)
	for end := start.Add(d); c.Now().Before(end); {
		c.RunUntil(c.Now().Add(time.Duration(rng.Int64N(int64(2*time.Second)))), nil)
		i := rng.IntN(c.Size())
		if err := c.Submit(i, localring.Agreed, 64); err != nil {
			t.Fatal(err)
		}
		w.sent()
	}
	c.RunFor(5 * time.Second)
	lat := w.latencies(t, spec.Domain)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	visits := c.Unicasts(0) - tok0
	return fedLatency{
		rotation: c.Now().Sub(start) / time.Duration(max(visits, 1)),
		median:   lat[len(lat)/2], p99: lat[len(lat)*99/100],
		mean: sum / time.Duration(len(lat)), maximum: lat[len(lat)-1], messages: len(lat),
	}
}

// TestFedLatencyVsPlanner measures, in the simulator, the rotation time
// and the Agreed latency (median, p99, mean, max: until the last site
// delivers) of federation rings, and prints them beside the planner's
// prediction for the same topology (topology.PredictAgreedLatency). The
// core orders a ring by member id, not by the planner's order, so the
// prediction is given for both orders. Two token hold settings are
// measured: the deployed one (an idle ring's representative holds the
// token for TokenHold and members wake it with a packet when they have
// something to send) and a 1 µs hold, the planner's model of a token that
// never rests. It checks what the model promises: with the token never
// resting, the measured mean stays within 25 % of the predicted mean and
// nothing exceeds the predicted maximum by more than one rotation. Run
// with -v for the table:
//
//	go test ./localring/sim -run TestFedLatencyVsPlanner -v
func TestFedLatencyVsPlanner(t *testing.T) {
	t.Parallel()
	for _, file := range fedTopologies {
		f, err := topology.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		p := f.Plan()
		fed := p.FederationDomains()
		if len(fed) == 0 {
			t.Fatal("no federation domain in the plan")
		}
		d := fed[len(fed)-1]
		spec, err := FedSpecFromPlan(f, p, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		n := len(spec.Sites)
		zero := make([]time.Duration, n)
		byID := make([]int, n) // spec.Sites is sorted: the core's ring order
		for i := range byID {
			byID[i] = i
		}
		var planned []int
		for _, s := range d.Ring {
			planned = append(planned, slices.Index(spec.Sites, s))
		}
		predID := topology.PredictAgreedLatency(byID, spec.RTT, zero)
		predPlan := topology.PredictAgreedLatency(planned, spec.RTT, zero)
		t.Logf("%s: ring by id %v; planner's order %v", d.Name, spec.Sites, d.Ring)
		t.Logf("  predicted, id order:      rotation %v, mean %v, max %v", predID.Rotation, predID.Mean, predID.Max)
		t.Logf("  predicted, planner order: rotation %v, mean %v, max %v (the plan's rotation, with token_hold: %v)",
			predPlan.Rotation, predPlan.Mean, predPlan.Max, d.Latency.Rotation)
		for _, hold := range []struct {
			name string
			hold time.Duration
		}{{"deployed hold " + spec.Ring.TokenHold.String(), spec.Ring.TokenHold}, {"hold 1µs", time.Microsecond}} {
			s := spec
			s.Ring.TokenHold = hold.hold
			m := measureFedLatency(t, s, 10*time.Minute)
			t.Logf("  measured, %-20s rotation %v, median %v, p99 %v, mean %v, max %v (%d messages); median/predicted mean %.2f, p99/predicted max %.2f",
				hold.name+":", m.rotation.Round(time.Microsecond), m.median.Round(time.Microsecond), m.p99.Round(time.Microsecond),
				m.mean.Round(time.Microsecond), m.maximum.Round(time.Microsecond), m.messages,
				float64(m.median)/float64(predID.Mean), float64(m.p99)/float64(predID.Max))
			if hold.hold == time.Microsecond {
				if r := float64(m.mean) / float64(predID.Mean); r < 0.75 || r > 1.25 {
					t.Errorf("%s: measured mean %v is %.2f× the predicted %v", d.Name, m.mean, r, predID.Mean)
				}
				if m.maximum > predID.Max.D()+predID.Rotation.D() {
					t.Errorf("%s: measured max %v exceeds the predicted %v by more than a rotation", d.Name, m.maximum, predID.Max)
				}
			}
		}
	}
}
