package scim

import (
	"encoding/json"
	"testing"
)

func TestParseFilter(t *testing.T) {
	for _, tt := range []struct {
		in        string
		attr, val string
		bad       bool
		allowed   []string
	}{
		{in: `userName eq "zoe@acme.test"`, attr: "userName", val: "zoe@acme.test"},
		{in: `USERNAME EQ "Zoe"`, attr: "userName", val: "Zoe"},
		{in: `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "z"`, attr: "userName", val: "z"},
		{in: `externalId eq "idp|\"q\""`, attr: "externalId", val: `idp|"q"`},
		{in: `userName co "z"`, bad: true},
		{in: `userName eq z`, bad: true},
		{in: `title eq "x"`, bad: true},
		{in: `userName eq "a" and externalId eq "b"`, bad: true},
		{in: ``},
	} {
		f, err := parseFilter(tt.in, "userName", "externalId")
		switch {
		case tt.bad && err == nil, !tt.bad && err != nil:
			t.Fatalf("%q: %v, %v", tt.in, f, err)
		case tt.in == "" && f != nil:
			t.Fatalf("empty filter: %v", f)
		case !tt.bad && tt.in != "" && (f.attr != tt.attr || f.value != tt.val):
			t.Fatalf("%q: %+v", tt.in, f)
		}
	}
}

func TestApply(t *testing.T) {
	res := func() map[string]any {
		return map[string]any{"userName": "zoe", "active": true,
			"emails":         []any{map[string]any{"value": "a@x", "type": "work", "primary": true}},
			EnterpriseSchema: map[string]any{"department": "Support"}}
	}
	for _, tt := range []struct {
		name string
		op   op
		path string // JSON of the field checked
		want string
	}{
		{"replace active from a string", op{Op: "replace", Path: "active", Value: json.RawMessage(`"False"`)}, "active", `false`},
		{"value-filtered sub-attribute", op{Op: "replace", Path: `emails[type eq "work"].value`, Value: json.RawMessage(`"b@x"`)}, "emails", `[{"primary":true,"type":"work","value":"b@x"}]`},
		{"filter that matches nothing adds", op{Op: "add", Path: `emails[type eq "home"].value`, Value: json.RawMessage(`"h@x"`)}, "emails",
			`[{"primary":true,"type":"work","value":"a@x"},{"primary":true,"type":"home","value":"h@x"}]`},
		{"remove by filter", op{Op: "remove", Path: `emails[type eq "work"]`}, "emails", `[]`},
		{"extension path", op{Op: "replace", Path: EnterpriseSchema + ":department", Value: json.RawMessage(`"Sales"`)}, EnterpriseSchema, `{"department":"Sales"}`},
		{"no path, extension object", op{Op: "add", Value: json.RawMessage(`{"` + EnterpriseSchema + `":{"division":"EU"}}`)}, EnterpriseSchema, `{"department":"Support","division":"EU"}`},
		{"no path, dotted key", op{Op: "replace", Value: json.RawMessage(`{"name.givenName":"Zoe"}`)}, "name", `{"givenName":"Zoe"}`},
		{"case-insensitive attribute", op{Op: "replace", Path: "USERNAME", Value: json.RawMessage(`"z2"`)}, "userName", `"z2"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := res()
			if err := apply(r, tt.op); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(r[tt.path])
			if string(got) != tt.want {
				t.Fatalf("%s = %s, want %s", tt.path, got, tt.want)
			}
		})
	}
	if err := apply(res(), op{Op: "replace", Path: `emails[type eq work`, Value: json.RawMessage(`1`)}); scimTypeOf(err) != "invalidPath" {
		t.Fatalf("unbalanced bracket: %v", err)
	}
}

// FuzzPatch: no PatchOp body, filter or path makes the parsers or apply
// panic, and what apply leaves is still JSON.
func FuzzPatch(f *testing.F) {
	f.Add(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x"}]}`, `userName eq "x"`)
	f.Add(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"S"}}}]}`, `externalId eq ""`)
	f.Add(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"1\"]"}]}`, `a eq "b"]`)
	f.Fuzz(func(t *testing.T, body, filter string) {
		_, _ = parseFilter(filter, "userName", "externalId")
		_, _, _, _ = parsePath(filter)
		ops, err := patchOps([]byte(body))
		if err != nil {
			return
		}
		res := map[string]any{"userName": "u", "emails": []any{map[string]any{"type": "work", "value": "v"}}}
		for _, o := range ops {
			if apply(res, o) != nil {
				return
			}
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("apply left something that is not JSON: %v", err)
		}
	})
}
