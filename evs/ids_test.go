package evs

import (
	"strconv"
	"testing"
)

func TestParseConfID(t *testing.T) {
	ring := func(seq uint64, rep string) confRef {
		return confRef{id: "r:" + strconv.FormatUint(seq, 10) + ":" + rep, num: ringSeqs, place: [2]uint64{seq}}
	}
	pos := func(id string, seq, ring uint64) confRef {
		return confRef{id: id, num: domainPlaces, place: [2]uint64{seq, ring}}
	}
	for s, want := range map[string]ringID{
		"r:12:fra-2":               {ok: true, reg: ring(12, "fra-2")},
		"t:13:fra-1/12:fra-2":      {ok: true, trans: true, reg: ring(13, "fra-1"), old: ring(12, "fra-2")},
		"r:18446744073709551615:a": {ok: true, reg: ring(1<<64-1, "a")},
		"r:012:a":                  {ok: true, reg: ring(12, "a")},
		"r:x:a":                    {},
		"r:1:":                     {},
		"t:2:a":                    {},
		"first":                    {},
		// gateway/bridge: a site alone, with and without Ups in doubt.
		"site:ams:t:65580:a/65556:a":                   {ok: true, trans: true, reg: ring(65580, "a"), old: ring(65556, "a")},
		"site:ams:t:16:a/4:a~0123456789abcdef":         {ok: true, trans: true, reg: ring(16, "a"), old: ring(4, "a")},
		"site:ams:t:16:a/4:a~":                         {},
		"site:ams:t:16:a/4:a~x":                        {},
		"site:ams:r:16:a":                              {},
		"site:ams:t:16:a":                              {},
		"fed:t:20:b/12:a>r:24:a":                       {ok: true, trans: true, reg: ring(24, "a"), old: ring(12, "a")},
		"fed:t:20:b/12:a":                              {},
		"fed:t:20:b/12:a>t:24:a/20:b":                  {},
		"fed:r:20:b>r:24:a":                            {},
		"dr:57@8/r:8:ams":                              {ok: true, reg: pos("dr:57@8/r:8:ams", 57, 8)},
		"dr:3@4/r:reformed":                            {ok: true, reg: pos("dr:3@4/r:reformed", 3, 4)},
		"dr:57/r:8:ams":                                {},
		"dr:57@8":                                      {},
		"dt:90@12/r:12:ams/dr:57@8/r:8:ams":            {ok: true, trans: true, reg: pos("dr:90@12/r:12:ams", 90, 12), old: pos("dr:57@8/r:8:ams", 57, 8)},
		"dt:70@8/dr:57@8/r:8:ams/ams-2":                {ok: true, trans: true, old: pos("dr:57@8/r:8:ams", 57, 8)},
		"dt:70@8/dr:57@8/r:8:ams/":                     {},
		"dt:70@8/dr:57@8":                              {},
		"dt:70@8/r:12:ams":                             {},
		"dt:x@8/r:12:ams/dr:57@8/r:8:ams":              {},
		"dt:90@12/r:12:ams/dr:57/r:8:ams":              {},
		"dt:70@8/dr:57/r:8:ams/ams-2":                  {},
		"site:ams:t:65580:a/65556:a~0123456789abcdefg": {},
	} {
		if got := parseConfID(s); got != want {
			t.Errorf("parseConfID(%q) = %+v, want %+v", s, got, want)
		}
	}
}

// TestGatewayConfIDs: the ids a federation domain's traces name its
// configurations with (gateway/bridge's site: and fed: transitional ids
// among the rings' r: and t:, gateway/domconf's dr: and dt:) get 2.3's
// checks as the rings' do: a transitional configuration comes from the
// regular one before it and leads into the one after it, and the regular
// ones are numbered increasingly. Each violating trace passed before
// these ids were parsed (they only had to alternate).
func TestGatewayConfIDs(t *testing.T) {
	fed := func() *tb {
		b := newTrace()
		b.domain = "fed/regional"
		return b
	}
	cases := []struct {
		name  string
		trace *tb
		want  []want
	}{
		{
			name: "site alone, valid",
			trace: fed().reg("r:4:a", "a", "a/1").trans("site:a:t:8:b/4:a", "a", "a/1").reg("r:8:b", "a", "a/1").
				trans("site:a:t:12:a/8:b~0123456789abcdef", "a", "a/1").reg("r:12:a", "a", "a/1"),
		},
		{
			name:  "site alone, from another configuration",
			trace: fed().reg("r:4:a", "a", "a/1").trans("site:a:t:8:a/2:a", "a", "a/1").reg("r:8:a", "a", "a/1"),
			want:  []want{{ConfOrder, "site:a:t:8:a/2:a", "", []string{"a/1"}, "the transitional id says it comes from r:2:a"}},
		},
		{
			name:  "site alone, into another configuration",
			trace: fed().reg("r:4:a", "a", "a/1").trans("site:a:t:8:a/4:a~0123456789abcdef", "a", "a/1").reg("r:12:a", "a", "a/1"),
			want:  []want{{ConfOrder, "r:12:a", "", []string{"a/1"}, "which leads into r:8:a"}},
		},
		{
			name:  "site alone, ring going back",
			trace: fed().reg("r:8:a", "a", "a/1").trans("site:a:t:4:a/8:a", "a", "a/1").reg("r:4:a", "a", "a/1"),
			want: []want{
				{ConfOrder, "site:a:t:4:a/8:a", "", []string{"a/1"}, "ring sequence numbers must increase"},
				{ConfOrder, "r:4:a", "", []string{"a/1"}, "after r:8:a: ring sequence numbers must increase"},
			},
		},
		{
			name:  "federation's through rings that did not settle, valid",
			trace: fed().reg("r:4:a", "a", "a/1").trans("fed:t:8:b/4:a>r:12:a", "a", "a/1").reg("r:12:a", "a", "a/1"),
		},
		{
			name:  "federation's through rings that did not settle, into another configuration",
			trace: fed().reg("r:4:a", "a", "a/1").trans("fed:t:8:b/4:a>r:12:a", "a", "a/1").reg("r:8:b", "a", "a/1"),
			want:  []want{{ConfOrder, "r:8:b", "", []string{"a/1"}, "which leads into r:12:a"}},
		},
		{
			name:  "federation's through rings that did not settle, from another configuration",
			trace: fed().reg("r:4:a", "a", "a/1").trans("fed:t:8:b/2:a>r:12:a", "a", "a/1").reg("r:12:a", "a", "a/1"),
			want:  []want{{ConfOrder, "fed:t:8:b/2:a>r:12:a", "", []string{"a/1"}, "comes from r:2:a"}},
		},
		{
			name: "node level, valid",
			trace: fed().reg("dr:5@4/r:4:a", "a", "a/1").trans("dt:9@8/r:8:a/dr:5@4/r:4:a", "a", "a/1").
				reg("dr:9@8/r:8:a", "a", "a/1").trans("dt:12@8/dr:9@8/r:8:a/a", "a", "a/1").
				reg("dr:20@12/r:12:a", "a", "a/1").trans("dt:24@12/dr:20@12/r:12:a/a", "a", "a/1").reg("dr:24@16/r:16:a", "a", "a/1"),
		},
		{
			name:  "node level, from another configuration",
			trace: fed().reg("dr:5@4/r:4:a", "a", "a/1").trans("dt:9@8/r:8:a/dr:3@2/r:2:a", "a", "a/1").reg("dr:9@8/r:8:a", "a", "a/1"),
			want:  []want{{ConfOrder, "dt:9@8/r:8:a/dr:3@2/r:2:a", "", []string{"a/1"}, "comes from dr:3@2/r:2:a"}},
		},
		{
			name:  "node level, into another configuration",
			trace: fed().reg("dr:5@4/r:4:a", "a", "a/1").trans("dt:9@8/r:8:a/dr:5@4/r:4:a", "a", "a/1").reg("dr:9@12/r:12:a", "a", "a/1"),
			want:  []want{{ConfOrder, "dr:9@12/r:12:a", "", []string{"a/1"}, "which leads into dr:9@8/r:8:a"}},
		},
		{
			// gateway/domconf TestChangeAfterTransitionalCompletes: b-1
			// left at the bridge's transitional entry (14), and the round
			// completed at the continuing entry held behind it (11).
			name: "node level, left alone at a place after the next configuration's",
			trace: fed().reg("dr:4@101/r:101:a+b", "a", "a/1").trans("dt:14@103/dr:4@101/r:101:a+b/a", "a", "a/1").
				reg("dr:11@103/r:103", "a", "a/1").trans("dt:14@103/dr:11@103/r:103/a", "a", "a/1"),
		},
		{
			name:  "node level, left alone from another configuration",
			trace: fed().reg("dr:5@4/r:4:a", "a", "a/1").trans("dt:12@8/dr:3@2/r:2:a/a", "a", "a/1"),
			want:  []want{{ConfOrder, "dt:12@8/dr:3@2/r:2:a/a", "", []string{"a/1"}, "comes from dr:3@2/r:2:a"}},
		},
		{
			name: "node level, positions going back",
			trace: fed().reg("dr:9@8/r:8:a", "a", "a/1").trans("dt:5@12/r:12:a/dr:9@8/r:8:a", "a", "a/1").
				reg("dr:5@12/r:12:a", "a", "a/1"),
			want: []want{
				{ConfOrder, "dt:5@12/r:12:a/dr:9@8/r:8:a", "", []string{"a/1"}, "domain positions must increase"},
				{ConfOrder, "dr:5@12/r:12:a", "", []string{"a/1"}, "after dr:9@8/r:8:a: domain positions must increase"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, Check(tc.trace.events, Options{}), tc.want)
		})
	}
}
