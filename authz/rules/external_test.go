package rules

import (
	"strings"
	"testing"
)

// externalVocabulary is the default vocabulary with two external types.
func externalVocabulary() *Vocabulary {
	v := DefaultVocabulary()
	v.ResourceTypes = append(v.ResourceTypes,
		ResourceType{Name: "ticket", External: true, Actions: []string{"view", "edit", "close", "delete"},
			Attributes: []Attribute{{Name: "department", Path: ExternalAttributePath("department")}, {Name: "status", Path: ExternalAttributePath("status")}}},
		ResourceType{Name: "invoice", External: true, Actions: []string{"view", "pay"}})
	return v
}

func TestExternalTypesInTheChecker(t *testing.T) {
	v := externalVocabulary()
	for _, tc := range []struct {
		name, filter, cond string
		actions            []string
		err                string // "" valid; else a part of the first error
		hint               string
	}{
		{"own actions and attributes", "Ticket_*", `resource.department = user.@department and resource.status != "closed"`, []string{"view", "Close"}, "", ""},
		{"custom property spelling", "Ticket_T-17", `resource.@department = "Support"`, []string{"edit"}, "", ""},
		{"owner and name", "ticket_*", `resource.owner = user and resource.name like "T-*"`, []string{"edit"}, "", ""},
		{"two external types", "Ticket_*,Invoice_*", `resource.department = "x"`, []string{"view"}, "", ""},
		{"a platform action on a ticket", "Ticket_*", "", []string{"read"}, `unknown action "read": the selected types (ticket) have the actions close, delete, edit, view`, ""},
		{"a ticket action on apps", "App_*", "", []string{"close"}, `action "close" is an action of ticket`, "add the type to the resource filter"},
		{"an action of another external type", "Ticket_*", "", []string{"pay"}, `action "pay" is an action of invoice`, ""},
		{"a typo", "Ticket_*", `resource.departmnt = "x"`, []string{"view"}, "unknown attribute resource.departmnt", "resource.department"},
		{"ambiguous with a built-in type", "Ticket_*,User_*", `resource.status = "open"`, []string{"delete"}, "resource.status means an attribute of ticket and a field of user", ""},
		{"every type", "*", `resource.department = "x"`, []string{"view", "read"}, "", ""},
		{"no navigation", "Ticket_*", `resource.space.name = "x"`, []string{"view"}, "resource.space is not defined", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags := Check(Rule{ID: "r", Name: "r", ResourceFilter: tc.filter, Condition: tc.cond, Actions: tc.actions}, v)
			if tc.err == "" {
				if HasErrors(diags) {
					t.Fatalf("errors: %v", diags)
				}
				return
			}
			var first *Diagnostic
			for i := range diags {
				if diags[i].Severity == SeverityError {
					first = &diags[i]
					break
				}
			}
			if first == nil || !strings.Contains(first.Message, tc.err) || !strings.Contains(first.Hint, tc.hint) {
				t.Fatalf("got %v; want %q (hint %q)", diags, tc.err, tc.hint)
			}
		})
	}
}

func TestExternalAttributesCompileToTheirAttributes(t *testing.T) {
	v := externalVocabulary()
	rego, diags := CompileRule(Rule{ID: "r", Name: "r", ResourceFilter: "Ticket_*", Condition: `resource.Department = "Support"`, Actions: []string{"view"}}, v)
	if HasErrors(diags) {
		t.Fatal(diags)
	}
	if !strings.Contains(rego, `input.resource.attributes.department`) || !strings.Contains(rego, `input.resource.type == "ticket"`) {
		t.Fatalf("generated:\n%s", rego)
	}
	if err := (&Vocabulary{ResourceTypes: []ResourceType{{Name: "t", External: true}}}).Validate(); err == nil {
		t.Fatal("an external type without actions is accepted")
	}
}
