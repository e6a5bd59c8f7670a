package rules

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func benchMod(b *testing.B, mod string) {
	in, _ := ast.InterfaceToValue(benchInput)
	pq := prepare(b, mod, stubBuiltin)
	ctx := context.Background()
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil || len(rs) == 0 || len(rs[0].Expressions[0].Value.([]any)) != 1 {
		b.Fatal(err, rs)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pq.Eval(ctx, rego.EvalParsedInput(in)); err != nil {
			b.Fatal(err)
		}
	}
}

const hdr = "package rulekeeper.rules\ngrants contains 1 if {\ninput.action == \"read\"\n"

func BenchmarkZZTrivial(b *testing.B) { benchMod(b, hdr+"}\n") }
func BenchmarkZZV1(b *testing.B) {
	benchMod(b, hdr+"\"sales\" in _lvals(input.subject.groups)\n}\n"+valueHelpers)
}
func BenchmarkZZV3(b *testing.B) {
	benchMod(b, hdr+"\"sales\" in _lv(input.subject.groups)\n}\n"+`
_lv(x) := [lower(x)] if is_string(x)
_lv(x) := [lower(s) | some y in x; s := _st(y)] if is_array(x)
_lv(x) := [_st(x)] if type_name(x) in {"boolean", "number"}
_st(x) := x if is_string(x)
_st(x) := sprintf("%v", [x]) if type_name(x) in {"boolean", "number"}
`)
}
func BenchmarkZZV4(b *testing.B) {
	benchMod(b, hdr+"_lv(input.subject.groups, \"sales\")\n}\n"+`
_lv(x, y) if lower(x) == y
_lv(x, y) if lower(x[_]) == y
`)
}
func BenchmarkZZV5(b *testing.B) {
	benchMod(b, hdr+"_h1\n}\n"+`
_h1 if lower(input.subject.groups) == "sales"
_h1 if lower(input.subject.groups[_]) == "sales"
`)
}
func BenchmarkZZV6(b *testing.B) {
	benchMod(b, hdr+"\"sales\" in _g\n}\n"+`
_g := [lower(s) | some s in _vals(input.subject.groups)]
`+valueHelpers)
}
func BenchmarkZZV7(b *testing.B) {
	benchMod(b, hdr+"\"sales\" in [lower(s) | some y in _arr(input.subject.groups); s := _st(y)]\n}\n"+`
_arr(x) := x if is_array(x)
_arr(x) := [x] if not is_array(x)
_st(x) := x if is_string(x)
_st(x) := sprintf("%v", [x]) if type_name(x) in {"boolean", "number"}
`)
}
func BenchmarkZZV8(b *testing.B) {
	benchMod(b, hdr+"some y in _arr(input.subject.groups)\nlower(_st(y)) == \"sales\"\n}\n"+`
_arr(x) := x if is_array(x)
_arr(x) := [x] if not is_array(x)
_st(x) := x if is_string(x)
_st(x) := sprintf("%v", [x]) if type_name(x) in {"boolean", "number"}
`)
}
const newHelpers = `
_arr(x) := x if is_array(x)
_arr(x) := [x] if not is_array(x)
_st(x) := x if is_string(x)
_st(x) := sprintf("%v", [x]) if type_name(x) in {"boolean", "number"}
`
func BenchmarkZZV12(b *testing.B) {
	benchMod(b, hdr+"\"sales\" in _lv0\n}\n_lv0 := [lower(s) | some y in _arr(input.subject.groups); s := _st(y)]\n"+newHelpers)
}
func BenchmarkZZV12x3(b *testing.B) {
	benchMod(b, hdr+"\"sales\" in _lv0\n\"emea\" in _lv0\nnot \"x\" in _lv0\n}\n_lv0 := [lower(s) | some y in _arr(input.subject.groups); s := _st(y)]\n"+newHelpers)
}
func BenchmarkZZV7x3(b *testing.B) {
	c := "[lower(s) | some y in _arr(input.subject.groups); s := _st(y)]"
	benchMod(b, hdr+"\"sales\" in "+c+"\n\"emea\" in "+c+"\nnot \"x\" in "+c+"\n}\n"+newHelpers)
}
func BenchmarkZZV10(b *testing.B) {
	benchMod(b, hdr+"\"sales\" in [lower(y) | some y in _arr(input.subject.groups); is_string(y)]\n}\n"+newHelpers)
}
func BenchmarkZZNeg(b *testing.B) {
	benchMod(b, hdr+"not _v0[_] != \"\"\nnot \"x\" in _v1\n}\n_v0 := [s | some y in _arr(input.subject.missing); s := _st(y)]\n_v1 := [s | some y in _arr(input.missing.x); s := _st(y)]\n"+newHelpers)
}
