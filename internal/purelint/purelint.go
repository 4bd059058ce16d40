// Package purelint is the import and source lint that keeps Atoll's
// protocol state machines pure (localring, federation, gateway/bridge,
// gateway/domconf, groups): no sockets, files, goroutines, locks, wall
// clock or global randomness in their non-test files, so that the
// simulators drive them deterministically. Each package's lint_test.go
// states its rules and calls Check.
package purelint

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Rules says what the non-test Go files of a package may not use.
type Rules struct {
	// Imports maps a forbidden import path to the reason.
	Imports map[string]string
	// Text maps source text that must not appear (a call such as
	// "time.Now(", a statement such as "go func") to the reason.
	Text map[string]string
	// Deps, when not nil, lists the only imports from outside the
	// standard library (a path whose first element has a dot) allowed;
	// DepsWhy says why.
	Deps    []string
	DepsWhy string
}

// Check reports, as test errors, every breach of rules in the non-test Go
// files of the directories dirs (relative to the test's package
// directory), and fails the test if a directory has no such file (a moved
// package would otherwise pass unchecked).
func Check(t testing.TB, rules Rules, dirs ...string) {
	t.Helper()
	bad, err := Violations(rules, dirs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// Violations returns one line per breach of rules in the non-test Go files
// of dirs, in file order, or an error if a directory cannot be read, has
// no non-test Go file, or holds a file that does not parse.
func Violations(rules Rules, dirs ...string) ([]string, error) {
	var out []string
	fset := token.NewFileSet()
	texts := make([]string, 0, len(rules.Text))
	for s := range rules.Text {
		texts = append(texts, s)
	}
	sort.Strings(texts)
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, err
		}
		n := 0
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			n++
			src, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
			if err != nil {
				return nil, err
			}
			for _, imp := range f.Imports {
				path, err := strconv.Unquote(imp.Path.Value)
				if err != nil {
					return nil, fmt.Errorf("%s: import %s: %v", name, imp.Path.Value, err)
				}
				if why, ok := rules.Imports[path]; ok {
					out = append(out, fmt.Sprintf("%s imports %s: %s", name, path, why))
				}
				first, _, _ := strings.Cut(path, "/")
				if rules.Deps != nil && strings.Contains(first, ".") && !contains(rules.Deps, path) {
					out = append(out, fmt.Sprintf("%s imports %s: %s", name, path, rules.DepsWhy))
				}
			}
			for _, s := range texts {
				if strings.Contains(string(src), s) {
					out = append(out, fmt.Sprintf("%s uses %s: %s", name, s, rules.Text[s]))
				}
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("purelint: no non-test Go files in %s to check", dir)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
