package rulefile

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// benchFile is a rule file of n rules as the API's clients send it: JSON,
// on one line.
func benchFile(b *testing.B, n int) []byte {
	// rules.Rule marshals to a rule file's JSON form.
	f := struct {
		Rules []rules.Rule `json:"rules"`
	}{}
	for i := range n {
		f.Rules = append(f.Rules, rules.Rule{ID: fmt.Sprintf("r%05d", i), Name: fmt.Sprintf("rule %d", i), ResourceFilter: "App_*",
			Condition: fmt.Sprintf(`user.group = "G%d" and resource.name like "P%d*"`, i, i), Actions: []string{"read"}, Context: "hub"})
	}
	data, err := json.Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkParse10000: a JSON rule file of 10,000 rules read by Parse (the
// JSON path) and by the YAML parser it used to go through.
func BenchmarkParse10000(b *testing.B) {
	data := benchFile(b, 10000)
	for _, p := range []struct {
		name  string
		parse func([]byte) (*File, error)
	}{{"json", Parse}, {"yaml", parseYAML}} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f, err := p.parse(data)
				if err != nil || len(f.Entries) != 10000 {
					b.Fatal(err)
				}
			}
		})
	}
}
