package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxFileBytes is the largest topology file Parse accepts.
const MaxFileBytes = 1 << 20

// maxValues bounds the number of YAML values the decoder visits, so that a
// file of nested aliases ("billion laughs") cannot make it run for long.
const maxValues = 200_000

// maxDepth bounds the nesting of values, aliases included, which also stops
// recursive aliases.
const maxDepth = 32

// Load reads, decodes and validates the topology file at path. See Parse.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a topology file. name is the file name used
// in errors. On mistakes it returns an ErrorList with every mistake found,
// together with the part of the file that decoded (nil when the YAML itself
// is unreadable), so that tools can still show something.
func Parse(name string, data []byte) (*File, error) {
	f, errs := Decode(name, data)
	if f != nil {
		errs = append(errs, f.Validate()...)
	}
	errs = errs.sort()
	if len(errs) > 0 {
		return f, errs
	}
	return f, nil
}

// Decode decodes a topology file strictly, without validating what the
// values mean: unknown keys, duplicate keys, wrong kinds of values and
// unparseable durations are mistakes. It returns nil when the YAML syntax
// is broken.
func Decode(name string, data []byte) (f *File, errs ErrorList) {
	if len(data) > MaxFileBytes {
		return nil, ErrorList{{File: name, Line: 1, Col: 1, Msg: fmt.Sprintf("file is %d bytes, more than the limit of %d", len(data), MaxFileBytes), Fix: "split generated parts out or shorten the file"}}
	}
	if e := checkText(name, data); e != nil {
		return nil, ErrorList{e}
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, ErrorList{syntaxError(name, data, err)}
	}
	if root == nil {
		return nil, ErrorList{{File: name, Line: 1, Col: 1, Msg: "file is empty", Fix: "start with \"version: 1\" and \"cluster: NAME\" (see docs/TOPOLOGY.md)"}}
	}
	d := &decoder{file: name, budget: maxValues}
	f = &File{name: name}
	d.value(root, reflect.ValueOf(f).Elem(), "", nil, "", 0)
	return f, d.errs
}

// parseYAML parses one YAML document into a node tree. It returns nil for an
// empty document.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 reports errors by panicking internally and recovers
		// them itself; this is a last line of defence so that no input
		// can crash a caller.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	default:
		return nil, &extraDocError{line: next.Line, col: next.Column}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

type extraDocError struct{ line, col int }

func (e *extraDocError) Error() string { return "a second YAML document follows the first" }

// checkText finds bytes that YAML rejects (invalid UTF-8, control
// characters) and reports them at their exact position, which the YAML
// parser's own message lacks.
func checkText(name string, data []byte) *Error {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		bad := ""
		switch {
		case r == utf8.RuneError && size <= 1:
			bad = fmt.Sprintf("invalid UTF-8 byte 0x%02x", data[i])
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f && r != 0x85) || r == 0xfffe || r == 0xffff:
			bad = fmt.Sprintf("control character %U", r)
		case r == 0xfeff && i > 0:
			bad = "byte order mark inside the file"
		}
		if bad != "" {
			return &Error{File: name, Line: line, Col: col, Msg: bad, Fix: "save the file as UTF-8 text without control characters"}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
var yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// syntaxError turns a yaml.v3 error into an Error with a position. yaml.v3
// reports a line for most syntax errors but never a column (and no line for
// mistakes on the first line), so the column is the first non-blank
// character of that line, or the exact place where it can be found.
func syntaxError(name string, data []byte, err error) *Error {
	lines := strings.Split(string(data), "\n")
	e := &Error{File: name, Line: 1, Col: 1, Fix: "fix the YAML syntax (indent with spaces, close brackets and quotes)"}
	var extra *extraDocError
	msg := err.Error()
	switch m := yamlLineRE.FindStringSubmatch(msg); {
	case errors.As(err, &extra):
		e.Line, e.Col = extra.line, extra.col
		e.Msg = "a second YAML document (after ---) follows the first"
		e.Fix = "keep the whole topology in one document"
		return e
	case m != nil:
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML syntax: " + m[2]
	default:
		e.Msg = "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")
		if a := yamlAnchorRE.FindStringSubmatch(msg); a != nil {
			e.Fix = fmt.Sprintf("define the anchor with &%s before using *%s", a[1], a[1])
			for i, l := range lines {
				if c := strings.Index(l, "*"+a[1]); c >= 0 {
					e.Line, e.Col = i+1, utf8.RuneCountInString(l[:c])+1
					return e
				}
			}
		}
		if strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token") {
			for i, l := range lines {
				if c := strings.IndexByte(l, '\t'); c >= 0 && strings.TrimLeft(l[:c], " ") == "" {
					e.Line, e.Col = i+1, c+1
					e.Fix = "indent with spaces, not tabs"
					return e
				}
			}
		}
	}
	if e.Line < 1 {
		e.Line = 1
	}
	if e.Line > len(lines) {
		e.Line = len(lines)
	}
	l := lines[e.Line-1]
	e.Col = utf8.RuneCountInString(l) - utf8.RuneCountInString(strings.TrimLeft(l, " \t")) + 1
	if strings.Contains(msg, "tab character") {
		e.Fix = "indent with spaces, not tabs"
		if c := strings.IndexByte(l, '\t'); c >= 0 {
			e.Col = utf8.RuneCountInString(l[:c]) + 1
		}
	}
	return e
}

// scalar is implemented by field types that decode from one YAML scalar.
type scalar interface {
	parseScalar(s string) *problem
}

// located is implemented by the structs of the file, which remember where
// their keys are.
type located interface {
	positionsPtr() *positions
}

func (f *File) positionsPtr() *positions       { return &f.at }
func (c *Class) positionsPtr() *positions      { return &c.at }
func (s *Site) positionsPtr() *positions       { return &s.at }
func (n *Node) positionsPtr() *positions       { return &n.at }
func (l *Link) positionsPtr() *positions       { return &l.at }
func (g *Group) positionsPtr() *positions      { return &g.at }
func (a *ACL) positionsPtr() *positions        { return &a.at }
func (s *Security) positionsPtr() *positions   { return &s.at }
func (f *Federation) positionsPtr() *positions { return &f.at }

type decoder struct {
	file   string
	errs   ErrorList
	budget int // values left to visit, see maxValues

	// itemPos and itemKey say where the items of a list of strings record
	// their positions: in the enclosing mapping, under "key[i]".
	itemPos positions
	itemKey string
}

func (d *decoder) fail(n *yaml.Node, path string, p problem) {
	d.errs = append(d.errs, &Error{File: d.file, Line: max(n.Line, 1), Col: max(n.Column, 1), Path: path, Msg: p.msg, Fix: p.fix})
}

func join(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unknown kind of value"
}

var scalarType = reflect.TypeFor[scalar]()

// value decodes n into v. at and key say where to record the position of
// the value (at is nil at the root). It reports whether the value decoded.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, at positions, key string, depth int) bool {
	d.budget--
	if d.budget < 0 {
		if d.budget == -1 {
			d.fail(n, path, problem{fmt.Sprintf("file expands to more than %d values", maxValues), "use fewer aliases (*name)"})
		}
		return false
	}
	for n.Kind == yaml.AliasNode {
		depth++
		if n.Alias == nil || depth > maxDepth {
			d.fail(n, path, problem{"alias nests too deeply or refers to itself", "write the value out instead of using *" + n.Value})
			return false
		}
		n = n.Alias
	}
	if depth > maxDepth {
		d.fail(n, path, problem{fmt.Sprintf("values nest more than %d deep", maxDepth), "flatten the file; see docs/TOPOLOGY.md for its shape"})
		return false
	}
	ok := d.decodeKind(n, v, path, depth)
	if at != nil {
		at[key] = Pos{Line: max(n.Line, 1), Col: max(n.Column, 1), bad: !ok}
	}
	return ok
}

func (d *decoder) decodeKind(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	t := v.Type()
	if reflect.PointerTo(t).Implements(scalarType) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
			d.fail(n, path, problem{"expected a single value, found " + kindName(n), "write a value such as \"8ms\" or \"100Mbit/s\""})
			return false
		}
		if p := v.Addr().Interface().(scalar).parseScalar(n.Value); p != nil {
			d.fail(n, path, *p)
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
			d.fail(n, path, problem{"expected a string, found " + kindName(n), "write a single value, quoted if it contains ': ' or starts with '{'"})
			return false
		}
		v.SetString(n.Value)
		return true
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.fail(n, path, problem{"expected an integer, found " + kindName(n), "write a whole number such as 5405"})
			return false
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || i != int64(int(i)) {
			d.fail(n, path, problem{fmt.Sprintf("integer %s is out of range", n.Value), "write a smaller number"})
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
			return true // "acl:" with no value: same as absent
		}
		p := reflect.New(t.Elem())
		ok := d.decodeKind(n, p.Elem(), path, depth)
		v.Set(p)
		return ok
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, problem{"expected a list, found " + kindName(n), "write a list, one \"- item\" per line or [a, b]"})
			return false
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		ok := true
		var at positions
		if t.Elem().Kind() == reflect.String {
			// Items of lists of strings have no mapping of their own to
			// hold their positions; keep them in the slice's owner under
			// "key[i]", see structValue.
			at = d.itemPos
		}
		for i, item := range n.Content {
			key := ""
			if at != nil {
				key = d.itemKey + "[" + strconv.Itoa(i) + "]"
			}
			if !d.value(item, s.Index(i), index(path, i), at, key, depth+1) {
				ok = false
			}
		}
		v.Set(s)
		return ok
	case reflect.Struct:
		return d.structValue(n, v, path, depth)
	}
	panic(fmt.Sprintf("topology: decoder cannot decode into %s", t))
}

type fieldInfo struct {
	index int
	name  string
}

var fieldCache sync.Map // reflect.Type → []fieldInfo

func fieldsOf(t reflect.Type) []fieldInfo {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]fieldInfo)
	}
	var fs []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok || !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		fs = append(fs, fieldInfo{index: i, name: name})
	}
	fieldCache.Store(t, fs)
	return fs
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if n.Kind != yaml.MappingNode {
		if l, ok := v.Addr().Interface().(located); ok {
			// Tell validation not to report this struct's fields as
			// missing.
			*l.positionsPtr() = positions{"": {Line: n.Line, Col: n.Column, bad: true}}
		}
		what := "a mapping of keys to values"
		if path == "" {
			what = "the file to be a mapping of keys to values (version, cluster, classes, sites, links, groups)"
		}
		d.fail(n, path, problem{"expected " + what + ", found " + kindName(n), "write \"key: value\" lines, see docs/TOPOLOGY.md"})
		return false
	}
	at := positions{"": {Line: n.Line, Col: n.Column}}
	if l, ok := v.Addr().Interface().(located); ok {
		*l.positionsPtr() = at
	}
	fields := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, problem{"expected a key, found " + kindName(k), "keys are plain words such as name or sites"})
			ok = false
			continue
		}
		if k.Value == "<<" {
			d.fail(k, join(path, "<<"), problem{"merge keys (<<) are not supported", "write the keys out"})
			ok = false
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, join(path, k.Value), problem{fmt.Sprintf("key %q appears twice (first at line %d)", k.Value, first.Line), "remove one of them"})
			ok = false
			continue
		}
		seen[k.Value] = k
		fi := -1
		names := make([]string, len(fields))
		for j, f := range fields {
			names[j] = f.name
			if f.name == k.Value {
				fi = j
			}
		}
		if fi < 0 {
			fix := "remove it; known keys are " + strings.Join(names, ", ")
			if s := closest(k.Value, names); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
			}
			d.fail(k, join(path, k.Value), problem{fmt.Sprintf("unknown key %q", k.Value), fix})
			ok = false
			continue
		}
		fv := v.Field(fields[fi].index)
		savedPos, savedKey := d.itemPos, d.itemKey
		d.itemPos, d.itemKey = at, k.Value
		if !d.value(val, fv, join(path, k.Value), at, k.Value, depth+1) {
			ok = false
		}
		d.itemPos, d.itemKey = savedPos, savedKey
	}
	return ok
}

// closest returns the candidate nearest to s in edit distance, if it is
// near enough to be a likely typo.
func closest(s string, candidates []string) string {
	if len(candidates) > 1000 || len(s) > 100 {
		return "" // not worth the time
	}
	best, bestD := "", len(s)/3+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			c := 1
			if ra[i-1] == rb[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
