package client_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/groups"
)

// TestReason: the client's reasons are the group layer's, whose numbers
// the protocol carries, with the same names; an unknown one, or none (a
// transitional view's), prints its number.
func TestReason(t *testing.T) {
	for _, c := range []struct {
		r    client.Reason
		g    groups.Reason
		name string
	}{
		{client.ReasonJoin, groups.ReasonJoin, "join"},
		{client.ReasonLeave, groups.ReasonLeave, "leave"},
		{client.ReasonDisconnect, groups.ReasonDisconnect, "disconnect"},
		{client.ReasonNetwork, groups.ReasonNetwork, "network"},
		{0, 0, "reason(0)"},
		{9, 9, "reason(9)"},
	} {
		if uint8(c.r) != uint8(c.g) || c.r.String() != c.name || c.g.String() != c.name {
			t.Errorf("client %d %q, groups %d %q, want the same number and name %q", c.r, c.r, c.g, c.g, c.name)
		}
		if b, _ := c.r.MarshalText(); string(b) != c.name {
			t.Errorf("MarshalText of %d = %q, want %q", c.r, b, c.name)
		}
	}
}

// TestReasonText: UnmarshalText reads back what MarshalText writes for
// every reason, and in a View's JSON; any other text is an error that
// names the reasons it takes.
func TestReasonText(t *testing.T) {
	for _, r := range []client.Reason{client.ReasonJoin, client.ReasonLeave, client.ReasonDisconnect, client.ReasonNetwork} {
		b, err := r.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText of %v: %v", r, err)
		}
		var got client.Reason
		if err := got.UnmarshalText(b); err != nil || got != r {
			t.Errorf("UnmarshalText(%q) = %v, %v, want %v", b, got, err, r)
		}

		v := client.View{Group: "g", ID: "v1", Members: []string{"n1:c1"}, Joined: []string{"n1:c1"}, Reason: r}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", v, err)
		}
		var back client.View
		if err := json.Unmarshal(j, &back); err != nil || !reflect.DeepEqual(back, v) {
			t.Errorf("json.Unmarshal(%s) = %+v, %v, want %+v", j, back, err, v)
		}
	}

	for _, text := range []string{"", "Join", "reason(0)", "reason(9)", "partition"} {
		r := client.ReasonLeave
		err := r.UnmarshalText([]byte(text))
		if err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want an error", text, r)
			continue
		}
		if r != client.ReasonLeave {
			t.Errorf("UnmarshalText(%q) failed and still set the reason to %v", text, r)
		}
		for _, name := range []string{"join", "leave", "disconnect", "network"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("UnmarshalText(%q): %q does not name %q", text, err, name)
			}
		}
	}

	// A transitional view has no reason, which its JSON leaves out.
	v := client.View{Group: "g", ID: "v2", Members: []string{"n1:c1"}, Transitional: true}
	j, _ := json.Marshal(v)
	var back client.View
	if err := json.Unmarshal(j, &back); err != nil || !reflect.DeepEqual(back, v) {
		t.Errorf("json.Unmarshal(%s) = %+v, %v, want %+v", j, back, err, v)
	}
}
