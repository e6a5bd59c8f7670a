package rulefile_test

import (
	"fmt"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/resources/rulefile"
)

// A file with one rule and no id; the mistake in its condition is reported
// at the file's line and column.
func ExampleParse() {
	file := []byte(`name: Sales reads Q apps
resourceFilter: App_*
condition: user.group = "Sales" and resource.nme like "Q*"
actions: [read]
context: hub
`)
	f, err := rulefile.Parse(file)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(f.Rules()), "rule, id:", f.Rules()[0].ID == "")
	for _, p := range f.Validate(rules.DefaultVocabulary()) {
		fmt.Println(p.Line, p.Column, p.Field)
	}
	// Output:
	// 1 rule, id: true
	// 3 37 condition
}
