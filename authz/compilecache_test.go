package authz_test

import (
	"context"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
)

// Engines sharing a CompileCache reuse a compilation only for the same
// sources: each keeps its own data, rules module and revision.
func TestEnginesSharingACompileCache(t *testing.T) {
	ctx := context.Background()
	cache := authz.NewCompileCache(4)
	// The decision follows the static data (data.flag) and a rules module
	// (data.rulekeeper.rules.grants), as the real policies do.
	const byData = `package rulekeeper.authz

import data.rulekeeper.rules

grants contains {"kind": "rule", "id": "flag"} if data.flag

grants contains g if {
	not data.flag
	some g in rules.grants
}

allow := count(grants) > 0
`
	const denyAll = `package rulekeeper.authz

grants := set()

allow := false
`
	const gates = `package rulekeeper.gates

denies contains {"kind": "gate", "reason": "closed"} if data.closed
`
	grantRule := func(id string) string {
		return "package rulekeeper.rules\n\ngrants contains {\"kind\": \"rule\", \"id\": \"" + id + "\"} if input.action == \"read\"\n"
	}
	engine := func(module string, flag bool) *authz.Engine {
		return newEngine(t, authz.Options{Modules: map[string]string{"p.rego": module, "gates.rego": gates},
			Data: map[string]any{"flag": flag, "closed": module == denyAll}, CompileCache: cache, CacheSize: -1})
	}
	decide := func(e *authz.Engine) authz.Decision {
		t.Helper()
		d, err := e.Evaluate(ctx, &authz.Input{Subject: member("u1", "professional"), Action: "read", Resource: sharedApp})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	grantOf := func(d authz.Decision) string {
		if !d.Allow || len(d.Grants) != 1 {
			return ""
		}
		return d.Grants[0].ID
	}

	on, off, closed := engine(byData, true), engine(byData, false), engine(denyAll, false)
	if got := grantOf(decide(on)); got != "flag" {
		t.Fatalf("flag on: grant %q, want flag", got)
	}
	if d := decide(off); d.Allow {
		t.Fatalf("flag off, no rules: %+v, want a denial", d)
	}
	if d := decide(closed); d.Allow || len(d.Denies) != 1 {
		t.Fatalf("other static modules, same rules module: %+v, want their denial", d)
	}

	if err := off.Load(ctx, 1, grantRule("r1")); err != nil {
		t.Fatal(err)
	}
	if err := closed.Load(ctx, 1, grantRule("r1")); err != nil {
		t.Fatal(err)
	}
	if got := grantOf(decide(off)); got != "r1" {
		t.Fatalf("after loading r1: grant %q", got)
	}
	if d := decide(closed); d.Allow {
		t.Fatalf("other static modules with r1: %+v", d)
	}
	// The same rules module on another engine: the compilation is shared,
	// the data and revision are not.
	other := engine(byData, false)
	if err := other.Load(ctx, 5, grantRule("r1")); err != nil {
		t.Fatal(err)
	}
	if d := decide(other); grantOf(d) != "r1" || d.Revision != 5 {
		t.Fatalf("second engine with r1: %+v", d)
	}
	if err := other.Load(ctx, 6, grantRule("r2")); err != nil {
		t.Fatal(err)
	}
	if got := grantOf(decide(other)); got != "r2" {
		t.Fatalf("after loading r2: grant %q", got)
	}
	if d := decide(off); grantOf(d) != "r1" || d.Revision != 1 {
		t.Fatalf("the first engine after the second loaded r2: %+v", d)
	}
	// A broken module fails on every engine, cached or not.
	for _, e := range []*authz.Engine{off, other} {
		if err := e.Compile(ctx, "package rulekeeper.rules\n\ngrants contains x if {"); err == nil {
			t.Fatal("a broken rules module compiled")
		}
	}
}
