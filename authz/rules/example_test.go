package rules_test

import (
	"fmt"
	"strings"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

func ExampleParse() {
	e, diags := rules.Parse(`user.group="Sales" AND (resource.name like "Q*" || !resource.stream.Empty())`)
	fmt.Println(len(diags), rules.Format(e))

	_, diags = rules.Parse(`user.group = "Sales" and resource.name like "Q*`)
	d := diags[0]
	fmt.Printf("%s %d:%d %s\n", d.Field, d.Line, d.Column, d.Message)
	// Output:
	// 0 user.group = "Sales" and (resource.name like "Q*" or !resource.stream.Empty())
	// condition 1:45 unterminated string literal
}

func ExampleCheck() {
	r := rules.Rule{
		ID: "r1", Name: "Sales apps", ResourceFilter: "App_*, Strem_*",
		Condition: `user.gruop = "Sales" and resource.HasPrivilege("raed")`,
		Actions:   []string{"read", "Change owner"},
	}
	for _, d := range rules.Check(r, rules.DefaultVocabulary()) {
		fmt.Printf("%s %s %d:%d %s (%s)\n", d.Severity, d.Field, d.Line, d.Column, d.Message, d.Hint)
	}
	// Output:
	// warning resourceFilter 1:8 "Strem" is not a resource type rulekeeper knows: the rule applies only to decisions that name type "strem" (did you mean Stream?)
	// error condition 1:1 unknown attribute user.gruop (did you mean user.group?)
	// error condition 1:48 unknown action "raed" (did you mean read?)
}

func ExampleCompileModule() {
	rs := []rules.Rule{{
		ID: "r1", Name: "Sales reads apps", ResourceFilter: "App_*", Actions: []string{"read"}, Context: "hub",
		Condition: `user.group = "Sales"`,
	}}
	mod, diags := rules.CompileModule(rs, nil) // nil: DefaultVocabulary()
	fmt.Println(len(diags))
	for _, part := range []string{"grants contains", "_names :=", "_ids contains"} {
		start := strings.Index(mod, part)
		end := strings.Index(mod[start:], "\n\n") + start
		fmt.Println(mod[start:end])
	}
	// Output:
	// 0
	// grants contains {"kind": "rule", "id": id, "name": name} if {
	// 	some id in _ids
	// 	name := _names[id]
	// }
	// _names := {"r1": "Sales reads apps"}
	// _ids contains "r1" if {
	// 	input.resource.type == "app"
	// 	input.action == "read"
	// 	input.context.environment == "hub"
	// 	"sales" in _lv0
	// }
}
