package rulefile

import (
	"reflect"
	"strings"
	"testing"
)

// jsonFiles are JSON rule files of every shape; some are plain (read by
// the JSON fast path), the others are declined and read by the YAML parser.
var jsonFiles = []struct {
	name, text string
	plain      bool
}{
	{"list", `[{"id":"a","name":"A","resourceFilter":"App_*","condition":"user.group = \"G\"","actions":["read"],"context":"hub"},
  {"name":"B","resourceFilter":"Stream_*","actions":[],"disabled":true,"type":"default"}]`, true},
	{"rules", "{\n  \"$schema\": \"x\",\n  \"rules\": [\n    {\"name\": \"A\", \"description\": null, \"actions\": null},\n    {\n      \"name\": \"Ünïcode\", \"condition\": \"user.name = \\\"é\\\"\"}\n  ]\n}\n", true},
	{"rules first", `{"rules": [{"name":"A","version":3,"createdAt":"2026-01-01T00:00:00Z","updatedBy":{"x":[1,2]}}], "$schema": null}`, true},
	{"rules null", `{"rules": null}`, true},
	{"empty list", ` [ ] `, true},
	{"one rule", "{\"name\": \"one\", \"resourceFilter\": \"App_*\", \"actions\": [\"read\", \"update\"]}", true},
	{"escapes", `[{"name":"tab\there \u00e9 \"q\" \\","condition":"resource.name like \"a*\""}]`, true},
	{"escapes YAML refuses", `[{"name":"a\/b \ud83d\ude00"}]`, true},
	{"read-only field twice", `[{"name":"A","version":1,"version":2}]`, false},
	{"id trimmed", `[{"id":"  x  ","name":"A"}]`, true},
	{"given twice", `[{"name":"A","name":"B"}]`, false},
	{"unknown field", `[{"nme":"A"}]`, false},
	{"rules in a rule", `{"name":"A","rules":[]}`, false},
	{"number as name", `[{"name":5}]`, false},
	{"string as bool", `[{"name":"A","disabled":"true"}]`, false},
	{"null bool", `[{"name":"A","disabled":null}]`, false},
	{"bad type", `[{"name":"A","type":"system"}]`, false},
	{"not a mapping", `["x"]`, false},
	{"two documents", `[] []`, false},
	{"unknown top key", `{"rules":[],"rulez":[]}`, false},
	{"schema only", `{"$schema":"x"}`, false},
	{"empty object", `{}`, false},
	{"action not a string", `[{"name":"A","actions":[1]}]`, false},
	{"actions not a list", `[{"name":"A","actions":"read"}]`, false},
	{"syntax", `[{"name":"A",}]`, false},
}

// The JSON fast path reads what the YAML parser reads, or declines.
func TestJSONReadsAsYAMLDoes(t *testing.T) {
	for _, tt := range jsonFiles {
		t.Run(tt.name, func(t *testing.T) {
			f, err := jsonFile([]byte(tt.text))
			if (err == nil) != tt.plain {
				t.Fatalf("plain = %v, want %v (%v)", err == nil, tt.plain, err)
			}
			if err != nil {
				return
			}
			sameAsYAML(t, []byte(tt.text), f)
		})
	}
}

func sameAsYAML(t *testing.T, data []byte, f *File) {
	t.Helper()
	g, err := parseYAML(data)
	if err != nil {
		// JSON the YAML parser does not read (the escapes \/ and
		// surrogate pairs): the JSON path reads it as JSON.
		if !strings.Contains(err.Error(), "escape") {
			t.Fatalf("the JSON path read a file the YAML parser refuses: %v", err)
		}
		return
	}
	if len(f.Entries) != len(g.Entries) {
		t.Fatalf("%d entries, YAML %d", len(f.Entries), len(g.Entries))
	}
	for i := range f.Entries {
		a, b := &f.Entries[i], &g.Entries[i]
		if !reflect.DeepEqual(a.Rule, b.Rule) {
			t.Fatalf("entry %d: %+v, YAML %+v", i, a.Rule, b.Rule)
		}
		if a.Index != b.Index || a.Line != b.Line || a.Column != b.Column {
			t.Fatalf("entry %d at #%d %d:%d, YAML #%d %d:%d", i, a.Index, a.Line, a.Column, b.Index, b.Line, b.Column)
		}
		for _, k := range append(fields, "version", "nosuch") {
			if a.Has(k) != b.Has(k) {
				t.Fatalf("entry %d: Has(%q) = %v, YAML %v", i, k, a.Has(k), b.Has(k))
			}
		}
	}
}

// Problems of a file read as JSON point where they do for YAML.
func TestJSONProblemsPointIntoTheFile(t *testing.T) {
	text := "{\"rules\": [\n  {\"name\": \"ok\", \"resourceFilter\": \"App_*\", \"actions\": [\"read\"]},\n  {\"name\": \"bad\", \"resourceFilter\": \"App_*\", \"condition\": \"user.nosuch = \\\"x\\\"\", \"actions\": [\"read\", \"fly\"]}\n]}\n"
	f, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if f.src == nil {
		t.Fatal("a plain JSON file was not read by the JSON path")
	}
	g, err := parseYAML([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	got, want := f.Validate(nil), g.Validate(nil)
	if !got.HasErrors() || !reflect.DeepEqual(got, want) {
		t.Fatalf("problems %v, YAML %v", got, want)
	}
	if !strings.Contains(got.Error(), "line 3") {
		t.Fatalf("problems %v do not point at line 3", got)
	}
}

func FuzzJSONReadsAsYAMLDoes(f *testing.F) {
	for _, tt := range jsonFiles {
		f.Add([]byte(tt.text))
	}
	// The escapes only JSON reads are read as JSON.
	if file, err := jsonFile([]byte(`[{"name":"a\/b \ud83d\ude00"}]`)); err != nil || file.Entries[0].Rule.Name != "a/b \U0001F600" {
		f.Fatalf("escapes: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !isJSON(data) {
			return
		}
		file, err := jsonFile(data)
		if err != nil {
			return
		}
		sameAsYAML(t, data, file)
	})
}
