package authz

import (
	"context"
	"fmt"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/policies"
)

// BenchmarkInputTerm is the part of an uncached decision that builds the
// input term (projection and OPA value), on the demo tenant's rules and
// the inputs of BenchmarkDecideUncachedDemoRules.
func BenchmarkInputTerm(b *testing.B) {
	ctx := context.Background()
	mods, err := policies.Modules()
	if err != nil {
		b.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(ctx, Options{Modules: mods, Data: data, CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	mod, rdata, diags := rules.CompileIndexed(shippedRules, rules.DefaultVocabulary())
	if len(diags) > 0 {
		b.Fatal(diags)
	}
	if err := e.LoadIndexed(ctx, 1, mod, rdata); err != nil {
		b.Fatal(err)
	}
	c := e.current.Load()
	ins := make([]*Input, 1000)
	actions := []string{"read", "delete", "update", "export"}
	roles := []string{"canview", "canedit", "admin", "owner"}
	for i := range ins {
		id := fmt.Sprintf("u-%04d", i)
		ins[i] = &Input{Subject: Subject{ID: id, Name: id, Status: "active", License: License{Type: "professional"},
			Spaces: map[string][]string{"sp-1": {roles[i%len(roles)]}}}, Action: actions[(i/4)%len(actions)],
			Resource: Resource{Type: "app", ID: "a-1", Name: "Q4 report", Owner: "u-owner", SpaceID: "sp-1",
				SpaceType: "shared", Space: &Related{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u-space"}},
			Environment: "hub"}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var projected Input
		if c.proj.apply(ins[i%len(ins)], &projected).valueWith(&e.strs, c.proj) == nil {
			b.Fatal("no input")
		}
	}
}
