package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The JSON Schema of the topology file, docs/topology.schema.json, is
// generated from the Go types of file.go and units.go: their yaml tags give
// the keys, omitempty marks optional keys, and their doc comments become the
// descriptions. Regenerate it after changing the types with
//
//	go test ./topology -run TestSchema -update

const schemaPath = "../docs/topology.schema.json"

func TestSchema(t *testing.T) {
	got, err := generateSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("%v (run go test ./topology -run TestSchema -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./topology -run TestSchema -update", schemaPath)
	}
}

// TestExamplesMatchSchema checks every example against the schema with a
// small validator for the keywords the schema uses, and checks that the
// schema catches some of the broken file's mistakes.
func TestExamplesMatchSchema(t *testing.T) {
	raw, err := generateSchema()
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../deploy/examples/*.yaml")
	files = append(files, "default.yaml")
	for _, file := range files {
		doc := readYAMLAsJSON(t, file)
		if errs := validateSchema(schema, schema, doc, ""); len(errs) > 0 {
			t.Errorf("%s does not match the schema:\n%s", file, strings.Join(errs, "\n"))
		}
	}
	// broken.yaml repeats a key, which a generic YAML reader refuses; drop
	// the repetition.
	broken := strings.Replace(mustRead(t, "testdata/broken.yaml"), "sites: [fra], sites: [ams]", "sites: [fra]", 1)
	errs := validateSchema(schema, schema, yamlAsJSON(t, []byte(broken)), "")
	for _, want := range []string{"version: want const 1", "cluster: \"Prod_EU\" does not match", "classes[3].budgett: unknown property", "links[5].between: more than 2 items", "links[6]: missing rtt"} {
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e, want)
		}
		if !found {
			t.Errorf("schema check of broken.yaml misses %q; got:\n%s", want, strings.Join(errs, "\n"))
		}
	}
}

func readYAMLAsJSON(t *testing.T, path string) any {
	t.Helper()
	return yamlAsJSON(t, []byte(mustRead(t, path)))
}

func yamlAsJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	// Round-trip through JSON so numbers and maps look as editors see them.
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// validateSchema checks v against the subset of JSON Schema that
// generateSchema emits.
func validateSchema(root, s map[string]any, v any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		return validateSchema(root, root["$defs"].(map[string]any)[name].(map[string]any), v, path)
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		fail("want const %v, got %v", c, v)
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("want an object")
			return errs
		}
		props := s["properties"].(map[string]any)
		for k, val := range m {
			p, ok := props[k]
			if !ok {
				errs = append(errs, join(path, k)+": unknown property")
				continue
			}
			errs = append(errs, validateSchema(root, p.(map[string]any), val, join(path, k))...)
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := m[r.(string)]; !ok {
				fail("missing %s", r)
			}
		}
		if one, ok := s["oneOf"].([]any); ok {
			n := 0
			for _, alt := range one {
				if len(validateSchema(root, alt.(map[string]any), v, path)) == 0 {
					n++
				}
			}
			if n != 1 {
				fail("matches %d of oneOf", n)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			fail("want an array")
			return errs
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(a)) < n {
			fail("fewer than %v items", n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(a)) > n {
			fail("more than %v items", n)
		}
		for i, item := range a {
			errs = append(errs, validateSchema(root, s["items"].(map[string]any), item, index(path, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want a string, got %v", v)
			return errs
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	case "integer":
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			fail("want an integer, got %v", v)
			return errs
		}
		if m, ok := s["minimum"].(float64); ok && n < m {
			fail("%v is below %v", n, m)
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			fail("%v is above %v", n, m)
		}
	case nil:
		// oneOf alternatives carry only "required".
		if m, ok := v.(map[string]any); ok {
			req, _ := s["required"].([]any)
			for _, r := range req {
				if _, ok := m[r.(string)]; !ok {
					fail("missing %s", r)
				}
			}
		}
	}
	return errs
}

// Extra constraints the Go types cannot express, by "Type.Field".
var schemaExtras = map[string]map[string]any{
	"File.Version":   {"const": 1},
	"File.Cluster":   {"pattern": labelRE.String()},
	"Class.Name":     {"pattern": labelRE.String()},
	"Site.Name":      {"pattern": labelRE.String()},
	"Site.Port":      {"minimum": 1, "maximum": 65535},
	"Site.Nodes":     {"minItems": 1},
	"Node.ID":        {"pattern": nodeIDRE.String()},
	"Node.Port":      {"minimum": 1, "maximum": 65535},
	"Link.Between":   {"minItems": 2, "maxItems": 2},
	"Group.Name":     {"pattern": groupRE.String()},
	"Group.Sites":    {"minItems": 1},
	"Site.Multicast": {"examples": []string{"239.192.1.1"}},
	"Site.QUIC":      {"examples": []string{"gw.fra.example.net:7400"}},
}

var (
	durationPattern  = `^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+$`
	bandwidthPattern = `^([0-9]+(\.[0-9]*)?|\.[0-9]+) ?(Tbit/s|Gbit/s|Mbit/s|[kK]bit/s|bit/s|Tbps|Gbps|Mbps|[kK]bps|bps|TB/s|GB/s|MB/s|[kK]B/s|B/s)$`
)

type schemaGen struct {
	typeDoc  map[string]string // type name → doc
	fieldDoc map[string]string // "Type.Field" → doc
	defs     map[string]any
}

func generateSchema() ([]byte, error) {
	g := &schemaGen{typeDoc: map[string]string{}, fieldDoc: map[string]string{}, defs: map[string]any{}}
	for _, file := range []string{"file.go", "units.go"} {
		if err := g.readDocs(file); err != nil {
			return nil, err
		}
	}
	root := g.object(reflect.TypeFor[File]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/atoll-gcs/atoll/blob/main/docs/topology.schema.json"
	root["title"] = "Atoll topology file"
	root["description"] = g.typeDoc["File"] + " Reference: docs/TOPOLOGY.md. Generated from the Go types of package topology by: go test ./topology -run TestSchema -update"
	root["$defs"] = g.defs
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// readDocs collects the doc comments of the types and struct fields of one
// source file.
func (g *schemaGen) readDocs(file string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
	if err != nil {
		return err
	}
	clean := func(cg *ast.CommentGroup) string { return strings.Join(strings.Fields(cg.Text()), " ") }
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			doc := ts.Doc
			if doc == nil {
				doc = gd.Doc
			}
			if doc != nil {
				g.typeDoc[ts.Name.Name] = clean(doc)
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, field := range st.Fields.List {
				if field.Doc == nil {
					continue
				}
				for _, name := range field.Names {
					g.fieldDoc[ts.Name.Name+"."+name.Name] = clean(field.Doc)
				}
			}
		}
	}
	return nil
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		p := g.schema(sf.Type)
		if d := g.fieldDoc[t.Name()+"."+sf.Name]; d != "" {
			p["description"] = d
		}
		for k, v := range schemaExtras[t.Name()+"."+sf.Name] {
			p[k] = v
		}
		props[name] = p
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	o := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	if t == reflect.TypeFor[Site]() {
		o["oneOf"] = []any{map[string]any{"required": []string{"multicast"}}, map[string]any{"required": []string{"unicast"}}}
	}
	return o
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[Duration]():
		g.defs["Duration"] = map[string]any{"type": "string", "pattern": durationPattern, "description": g.typeDoc["Duration"], "examples": []string{"8ms", "200us", "1.5s"}}
		return map[string]any{"$ref": "#/$defs/Duration"}
	case reflect.TypeFor[Bandwidth]():
		g.defs["Bandwidth"] = map[string]any{"type": "string", "pattern": bandwidthPattern, "description": g.typeDoc["Bandwidth"], "examples": []string{"100Mbit/s", "1Gbps", "12.5MB/s"}}
		return map[string]any{"$ref": "#/$defs/Bandwidth"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Struct:
		if _, done := g.defs[t.Name()]; !done {
			g.defs[t.Name()] = nil // break cycles
			def := g.object(t)
			def["description"] = g.typeDoc[t.Name()]
			g.defs[t.Name()] = def
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	}
	panic("schema: unsupported type " + t.String())
}
