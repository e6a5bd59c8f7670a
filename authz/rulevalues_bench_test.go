package authz_test

import (
	"context"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// appReads are benchInputs asked as app reads in the hub, where the demo
// tenant's ownership rule ("Owners open their apps", resource.owner =
// user) has its bucket: by the owner (own), or by the others.
func appReads(own bool) []*authz.Input {
	ins := benchInputs()
	for i, in := range ins {
		c := *in
		c.Action = "read"
		if own {
			c.Resource.Owner = c.Subject.ID
		}
		ins[i] = &c
	}
	return ins
}

// BenchmarkDecideDemoAppReads: what the demo tenant's ownership rule
// costs an app read (its pair key, rulevalues.go), against the same reads
// with that rule left out (WithoutOwnerRule).
func BenchmarkDecideDemoAppReads(b *testing.B) {
	var others []rules.Rule
	for _, r := range authz.ShippedRules {
		if r.ID != "default-owner-reads-own-apps" {
			others = append(others, r)
		}
	}
	if len(others) != len(authz.ShippedRules)-1 {
		b.Fatal("the demo tenant has no ownership rule")
	}
	for _, bc := range []struct {
		name string
		rs   []rules.Rule
		own  bool
	}{
		{"Owner", authz.ShippedRules, true},
		{"NotOwner", authz.ShippedRules, false},
		{"NotOwner/WithoutOwnerRule", others, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEngine(b, authz.Options{CacheSize: -1})
			mod, data, diags := rules.CompileIndexed(bc.rs, rules.DefaultVocabulary())
			if len(diags) > 0 {
				b.Fatal(diags)
			}
			if err := e.LoadIndexed(context.Background(), 1, mod, data); err != nil {
				b.Fatal(err)
			}
			benchUncachedOn(b, e, appReads(bc.own))
		})
	}
}
