package authz_test

import (
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
)

// floorModules is a policy whose decision is trivial: one constant grant,
// no gate, allow computed from both as policies/decision.rego computes it.
// Decided through the engine's own path (Evaluate → decideTerm), it is the
// engine's floor: what a decision costs before the policy does anything.
var floorModules = map[string]string{
	"floor.rego": `package rulekeeper.authz

import data.rulekeeper.gates

grants := {{"kind": "table", "id": "floor", "name": "Floor"}}

default allow := false

allow if {
	g := grants
	d := gates.denies
	g != set()
	d == set()
}
`,
	"gates.rego": `package rulekeeper.gates

denies := set()
`,
}

// BenchmarkDecideFloor is BenchmarkDecideUncached on floorModules: read
// against it, the difference is the static policy's own evaluation.
func BenchmarkDecideFloor(b *testing.B) {
	e := newEngine(b, authz.Options{CacheSize: -1, Modules: floorModules})
	benchUncachedOn(b, e, benchInputs())
}

// BenchmarkDecideUncachedSpecialized is BenchmarkDecideUncached on the
// static policy's specialization per key (Options.Specialize), compiled
// before the timer starts.
func BenchmarkDecideUncachedSpecialized(b *testing.B) {
	benchUncachedOn(b, newEngine(b, authz.Options{CacheSize: -1, Specialize: true}), benchInputs())
}

// BenchmarkDecideUncachedDemoRulesSpecialized is
// BenchmarkDecideUncachedDemoRules with Options.Specialize.
func BenchmarkDecideUncachedDemoRulesSpecialized(b *testing.B) {
	benchUncachedOn(b, demoEngine(b, authz.Options{CacheSize: -1, Specialize: true}), benchInputs())
}

// BenchmarkEvaluateMixUncachedSpecialized is BenchmarkEvaluateMixUncached
// with Options.Specialize.
func BenchmarkEvaluateMixUncachedSpecialized(b *testing.B) {
	benchUncachedOn(b, newEngine(b, authz.Options{CacheSize: -1, Specialize: true}), mixInputs())
}
