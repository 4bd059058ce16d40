package qos

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRanksByBudget(t *testing.T) {
	ms := time.Millisecond
	tab, err := New([]Class{{"global", time.Second}, {"realtime", 2 * ms}, {"regional", 40 * ms}, {"batch", time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"realtime": 0, "regional": 1, "global": 2, "batch": 2} {
		if got, ok := tab.SendClass(name); !ok || got != want {
			t.Errorf("SendClass(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := tab.SendClass("nope"); ok {
		t.Error("SendClass of an unknown class reported true")
	}
	if got, want := tab.VisitPackets(), []int{0, LooseVisitPackets, LooseVisitPackets}; !slices.Equal(got, want) {
		t.Errorf("VisitPackets = %v, want %v", got, want)
	}
}

func TestManyClassesShareTheLast(t *testing.T) {
	var cs []Class
	for i := range MaxClasses + 3 {
		cs = append(cs, Class{string(rune('a' + i)), time.Duration(i+1) * time.Millisecond})
	}
	tab, err := New(cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		got, _ := tab.SendClass(c.Name)
		if want := min(i, MaxClasses-1); got != want {
			t.Errorf("class %s (budget %v): send class %d, want %d", c.Name, c.Budget, got, want)
		}
	}
	if n := len(tab.VisitPackets()); n != MaxClasses {
		t.Errorf("%d visit bounds, want %d", n, MaxClasses)
	}
}

func TestOneClassIsUnbounded(t *testing.T) {
	tab, err := New([]Class{{"global", time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.VisitPackets(); !slices.Equal(got, []int{0}) {
		t.Errorf("VisitPackets = %v, want [0]", got)
	}
	empty, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := empty.VisitPackets(); !slices.Equal(got, []int{0}) {
		t.Errorf("no classes: VisitPackets = %v, want [0]", got)
	}
}

func TestBadClasses(t *testing.T) {
	_, err := New([]Class{{"a", time.Millisecond}, {"a", time.Second}, {"b", 0}})
	if err == nil {
		t.Fatal("no error for a duplicate name and a zero budget")
	}
	for _, want := range []string{`class "a" is declared twice`, `class "b" has budget 0s`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestStdlibOnly keeps the package's imports to the standard library
// (DESIGN.md's package map): gateway and agent import it, not the other
// way round.
func TestStdlibOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s: package qos imports the standard library only", name, path)
			}
		}
	}
}
