package groups

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestGroupNameRule: one rule for group names, the topology file's
// (GroupNameSyntax, GroupPatternSyntax, which package topology compiles):
// what is refused, what is accepted, and the functions agree with the
// expressions on random strings.
func TestGroupNameRule(t *testing.T) {
	for _, s := range []string{"../../etc", "a/b", "*", "?", "ord*", ".hidden", "-x", "_x", ":x", "bell\a", "tab\tx", "sp ace",
		"ordérs", "ｏｒｄｅｒｓ", "", strings.Repeat("g", MaxGroupName+1)} {
		if ValidGroupName(s) {
			t.Errorf("ValidGroupName(%q) = true", s)
		}
	}
	for _, s := range []string{"orders", "Orders.EU-1", "a:b", "v2_x", "0", strings.Repeat("g", MaxGroupName)} {
		if !ValidGroupName(s) || !ValidGroupPattern(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"*", "orders.*", "?x", "ord?rs"} {
		if !ValidGroupPattern(s) {
			t.Errorf("ValidGroupPattern(%q) = false", s)
		}
	}
	name, pattern := regexp.MustCompile(GroupNameSyntax), regexp.MustCompile(GroupPatternSyntax)
	alphabet := []rune("aZ09._:-*?/ é\x00\x7f")
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]rune, r.IntN(6))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		if ValidGroupName(s) != name.MatchString(s) || ValidGroupPattern(s) != pattern.MatchString(s) {
			t.Fatalf("%q: functions %v %v, expressions %v %v", s, ValidGroupName(s), ValidGroupPattern(s), name.MatchString(s), pattern.MatchString(s))
		}
	}
	// Length: 128 bytes, which are 128 characters (ASCII only).
	long := strings.Repeat("g", MaxGroupName+1)
	if name.MatchString(long) || pattern.MatchString(long) {
		t.Errorf("the expressions accept %d bytes", len(long))
	}
}
