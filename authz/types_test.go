package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/policies"
)

func ticketTypes(t testing.TB, gates bool) *authz.Types {
	t.Helper()
	data, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	v, err := authz.VocabularyFrom(data)
	if err != nil {
		t.Fatal(err)
	}
	types := authz.NewTypes(v, nil)
	if err := types.Set([]authz.ExternalType{{
		Name:         "ticket",
		Actions:      []authz.TypeAction{{Name: "view"}, {Name: "edit"}, {Name: "close"}, {Name: "delete"}},
		Attributes:   []authz.TypeAttribute{{Name: "department"}, {Name: "status"}, {Name: "priority", Kind: "number"}, {Name: "tags", Kind: "list"}},
		LicenseGates: gates,
	}}); err != nil {
		t.Fatal(err)
	}
	return types
}

// TestExternalTypesDecideIndexedAsPlain: rules on an external type decide
// alike compiled plainly and to the index, and the license gates skip the
// type unless it asks for them.
func TestExternalTypesDecideIndexedAsPlain(t *testing.T) {
	ctx := context.Background()
	conds := []string{
		`resource.owner = user`, `resource.department = user.@department`, `resource.@department = "Support"`,
		`resource.status = "open" and resource.priority = "2"`, `resource.tags = "vip" or user.group = "Sales"`,
		`resource.department like "Sup*"`, `!(resource.status = "closed")`, `resource.name matches "T-[0-9]+"`,
	}
	for _, gates := range []bool{false, true} {
		types := ticketTypes(t, gates)
		vocab := types.RulesVocabulary()
		var set []rules.Rule
		for i, c := range conds {
			set = append(set, rules.Rule{ID: fmt.Sprintf("r%d", i), Name: "rule", ResourceFilter: "Ticket_*", Condition: c,
				Actions: []string{[]string{"view", "edit", "close"}[i%3]}, Context: "both"})
		}
		ix, err := rules.NewIndex(vocab)
		if err != nil {
			t.Fatal(err)
		}
		if diags := ix.Build(set); rules.HasErrors(diags) {
			t.Fatal(diags)
		}
		indexed := newEngine(t, authz.Options{CacheSize: -1, Types: types})
		if err := indexed.LoadIndexed(ctx, 1, ix.Module(), ix.Data()); err != nil {
			t.Fatal(err)
		}
		module, diags := rules.CompileModule(set, vocab)
		if rules.HasErrors(diags) {
			t.Fatal(diags)
		}
		plain := newEngine(t, authz.Options{CacheSize: -1, Types: types})
		if err := plain.Load(ctx, 1, module); err != nil {
			t.Fatal(err)
		}
		granted, gated := 0, 0
		for _, s := range []authz.Subject{
			{ID: "u1", Name: "u1", Status: "active", License: authz.License{Type: "professional"}, Attributes: map[string][]string{"department": {"Support"}}},
			{ID: "u2", Name: "u2", Status: "active", Groups: []string{"Sales"}, Attributes: map[string][]string{"department": {"Sales"}}},
		} {
			for _, r := range []authz.Resource{
				{Type: "ticket", ID: "T-1", Name: "T-1", Owner: "u1", Attributes: map[string][]string{"department": {"Support"}, "status": {"open"}, "priority": {"2"}}},
				{Type: "ticket", ID: "T-2", Name: "x", Owner: "u2", Attributes: map[string][]string{"department": {"Sales"}, "status": {"closed"}, "tags": {"vip", "sla"}}},
			} {
				for _, action := range []string{"view", "edit", "close", "delete"} {
					in := &authz.Input{Subject: s, Action: action, Resource: r, Environment: "hub"}
					a, err := indexed.Evaluate(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					b, err := plain.Evaluate(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					if a.Allow != b.Allow || !slices.Equal(a.Grants, b.Grants) {
						t.Fatalf("%s %s %s: indexed %+v, plain %+v", s.ID, action, r.ID, a, b)
					}
					if len(a.Grants) > 0 {
						granted++
					}
					if slices.ContainsFunc(a.Denies, func(d authz.Deny) bool { return d.Reason == "no_license" }) {
						gated++
					}
					// The planner's matcher agrees with the engine.
					for _, rule := range set {
						m := authz.NewRuleMatcher(rule, vocab)
						if !m.Valid() {
							t.Fatalf("rule %s invalid for the matcher", rule.Condition)
						}
						if m.HasAction(action) {
							want := slices.ContainsFunc(a.Grants, func(g authz.Grant) bool { return g.ID == rule.ID })
							got := m.Condition(authz.SubjectTarget(&s), authz.ResourceTarget(&r)) == authz.True
							if got != want {
								t.Fatalf("matcher on %q for %s %s: %v, engine %v", rule.Condition, s.ID, r.ID, got, want)
							}
						}
					}
				}
			}
		}
		if granted == 0 {
			t.Fatal("no rule granted: the test checks nothing")
		}
		// u2 has no license: gated only when the type asks for the gates.
		if (gated > 0) != gates {
			t.Fatalf("licenseGates %v: %d decisions gated no_license", gates, gated)
		}
	}
}

func TestTypesCheckNamesTheRegistry(t *testing.T) {
	types := ticketTypes(t, false)
	var te *authz.TypeError
	for _, tc := range []struct {
		typ, action, code, names string
	}{
		{"ticket", "view", "", ""},
		{"app", "read", "", ""},
		{"ticket", "read", "unknown_action", "close, delete, edit, view"},
		{"app", "view", "unknown_action", "read"},
		{"tickets", "view", "unknown_resource_type", "ticket"},
	} {
		err := types.Check(tc.typ, tc.action)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s %s: %v", tc.typ, tc.action, err)
			}
			continue
		}
		if !errors.As(err, &te) || te.Code != tc.code || !strings.Contains(te.Message, tc.names) {
			t.Errorf("%s %s: %v, want %s naming %s", tc.typ, tc.action, err, tc.code, tc.names)
		}
	}
	if !types.Gated("app") || types.Gated("ticket") || !types.Gated("unknown") {
		t.Fatal("gates: app and unknown types gated, ticket not")
	}
}

func TestApplyProperties(t *testing.T) {
	types := ticketTypes(t, false)
	for _, tc := range []struct {
		name, props string
		want        authz.Resource
		code, field string
	}{
		{"scalars and lists", `{"ownerID": "bob", "Department": "Support", "priority": 2, "tags": ["a", 1, true, null], "extra": false}`,
			authz.Resource{Type: "ticket", Owner: "bob", Attributes: map[string][]string{"department": {"Support"}, "priority": {"2"}, "tags": {"a", "1", "true"}, "extra": {"false"}}}, "", ""},
		{"nested attributes and own fields", `{"name": "T", "owner": "carol", "attributes": {"status": "open"}, "spaceId": "sp-1"}`,
			authz.Resource{Type: "ticket", Name: "T", Owner: "carol", SpaceID: "sp-1", Attributes: map[string][]string{"status": {"open"}}}, "", ""},
		{"a big number keeps its text", `{"priority": 12345678901234567890}`,
			authz.Resource{Type: "ticket", Attributes: map[string][]string{"priority": {"12345678901234567890"}}}, "", ""},
		{"wrong kind", `{"priority": "high"}`, authz.Resource{}, "wrong_kind", "p.priority"},
		{"one value for a list-less attribute", `{"status": ["a", "b"]}`, authz.Resource{}, "wrong_kind", "p.status"},
		{"an object", `{"extra": {"a": 1}}`, authz.Resource{}, "wrong_type", "p.extra"},
		{"a list of lists", `{"tags": [[1]]}`, authz.Resource{}, "wrong_type", "p.tags"},
		{"owner not a string", `{"ownerID": 7}`, authz.Resource{}, "wrong_type", "p.ownerID"},
		{"not an object", `[1]`, authz.Resource{}, "wrong_type", "p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := authz.Resource{Type: "ticket"}
			err := types.ApplyProperties(&r, json.RawMessage(tc.props), "p")
			if tc.code != "" {
				var te *authz.TypeError
				if !errors.As(err, &te) || te.Code != tc.code || te.Field != tc.field {
					t.Fatalf("%v; want %s at %s", err, tc.code, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(r)
			b, _ := json.Marshal(tc.want)
			if string(a) != string(b) {
				t.Fatalf("got %s, want %s", a, b)
			}
		})
	}
}

func FuzzApplyProperties(f *testing.F) {
	for _, s := range []string{`{"ownerID": "bob", "department": "x", "tags": [1, "a"]}`, `{"attributes": {"a": null}}`, `[]`, `{"priority": 1e400}`, `{"space": {"id": 1}}`} {
		f.Add(s)
	}
	types := ticketTypes(f, false)
	f.Fuzz(func(t *testing.T, props string) {
		r := authz.Resource{Type: "ticket"}
		err := types.ApplyProperties(&r, json.RawMessage(props), "p")
		var te *authz.TypeError
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("not a TypeError: %v", err)
		}
		if err == nil && r.Type != "ticket" {
			t.Fatalf("the type changed: %q", r.Type)
		}
	})
}
