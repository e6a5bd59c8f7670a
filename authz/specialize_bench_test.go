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

// BenchmarkDecideUncachedGeneral is BenchmarkDecideUncached on the policy
// as compiled (Options.NoSpecialization): the benchmarks without the
// suffix evaluate the static policy's specialization per key, compiled
// before the timer starts.
func BenchmarkDecideUncachedGeneral(b *testing.B) {
	benchUncachedOn(b, newEngine(b, authz.Options{CacheSize: -1, NoSpecialization: true}), benchInputs())
}

// BenchmarkDecideUncachedDemoRulesGeneral is
// BenchmarkDecideUncachedDemoRules with Options.NoSpecialization.
func BenchmarkDecideUncachedDemoRulesGeneral(b *testing.B) {
	benchUncachedOn(b, demoEngine(b, authz.Options{CacheSize: -1, NoSpecialization: true}), benchInputs())
}

// BenchmarkEvaluateMixUncachedGeneral is BenchmarkEvaluateMixUncached
// with Options.NoSpecialization.
func BenchmarkEvaluateMixUncachedGeneral(b *testing.B) {
	benchUncachedOn(b, newEngine(b, authz.Options{CacheSize: -1, NoSpecialization: true}), mixInputs())
}
