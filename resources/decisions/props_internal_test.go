package decisions

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestSubjectProps(t *testing.T) {
	for _, tt := range []struct {
		in    string
		attrs map[string][]string
		name  string
		bad   bool
	}{
		{in: `{"department":"Support"}`, attrs: map[string][]string{"department": {"Support"}}},
		{in: `{"department":["Sales","Legal"],"level":3,"vip":true,"x":null}`,
			attrs: map[string][]string{"department": {"Sales", "Legal"}, "level": {"3"}, "vip": {"true"}, "x": {}}},
		{in: `{"name":"sam","attributes":{"a":["1"]},"b":"2"}`, name: "sam", attrs: map[string][]string{"a": {"1"}, "b": {"2"}}},
		{in: `{"groups":["Support"]}`},
		{in: `{"nested":{"a":1}}`, bad: true},
		{in: `{"list":[{"a":1}]}`, bad: true},
		{in: `{"roles":"TenantAdmin"}`, bad: true},
		{in: `[]`, bad: true},
		{in: ``},
		{in: `null`},
	} {
		s, err := subjectProps(json.RawMessage(tt.in), "")
		if (err != nil) != tt.bad {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if tt.bad {
			continue
		}
		if s.Name != tt.name || len(s.Attributes) != len(tt.attrs) {
			t.Fatalf("%s: %+v", tt.in, s)
		}
		for k, v := range tt.attrs {
			if !slices.Equal(s.Attributes[k], v) {
				t.Fatalf("%s: %s = %v, want %v", tt.in, k, s.Attributes[k], v)
			}
		}
	}
}

// FuzzSubjectProps: any JSON answers properties or a 400, never a panic,
// and every attribute value read is a string list.
func FuzzSubjectProps(f *testing.F) {
	for _, s := range []string{`{"department":"Support"}`, `{"a":[1,true,"x",null]}`, `{"license":{"type":"analyzer"},"spaces":{"s":["canview"]}}`, `{"attributes":{"a":["1"]},"a":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := subjectProps(json.RawMessage(raw), "evaluations[0].")
		if err != nil {
			return
		}
		for k, v := range s.Attributes {
			if v == nil && k == "" {
				t.Fatalf("attribute %q has no values list", k)
			}
		}
	})
}
