package rules

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func prepareIndexed(t testing.TB, module string, data map[string]any, extra ...string) rego.PreparedEvalQuery {
	t.Helper()
	// The engine's store (authz/engine.go): data read as AST values, not
	// converted from Go maps on every read.
	st := inmem.NewFromObjectWithOpts(map[string]any{DataRoot: data}, inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))
	return prepareWith(t, module, func(r *rego.Rego) {
		rego.Store(st)(r)
		rego.StoreReadAST(true)(r)
	}, extra...)
}

// differential runs n rule sets of rulesPer random rules against inputsPer
// random inputs each: the indexed compilation, the plain one and the
// reference evaluator must name the same granting rules.
func differential(t testing.TB, seed uint64, sets, rulesPer, inputsPer int) (cases, granted int) {
	g := gen{newRand(seed)}
	for m := range sets {
		var rs []Rule
		for i := range rulesPer {
			rs = append(rs, g.rule(m*rulesPer+i))
		}
		p := build(rs, nil, true)
		plain := prepare(t, emit(p.units, p.x, p.n), stubBuiltin)
		mod, data, _ := CompileIndexed(rs, nil)
		indexed := prepareIndexed(t, mod, data, stubBuiltin)
		ref := &refEval{x: p.x, rules: p.rules}
		for range inputsPer {
			in := g.input()
			want := ref.grants(in)
			v, err := ast.InterfaceToValue(in)
			if err != nil {
				t.Fatal(err)
			}
			a, b := evalValue(t, plain, v), evalValue(t, indexed, v)
			cases++
			if len(want) > 0 {
				granted++
			}
			if !slices.Equal(a, want) || !slices.Equal(b, want) {
				var sb strings.Builder
				for _, r := range rs {
					fmt.Fprintf(&sb, "  %s filter=%q actions=%v context=%q\n      %s\n", r.ID, r.ResourceFilter, r.Actions, r.Context, r.Condition)
				}
				t.Fatalf("set %d: reference %v, plain %v, indexed %v\ninput %v\nrules:\n%s\nindexed module:\n%s\ndata: %v",
					m, want, a, b, in, sb.String(), mod, data)
			}
		}
	}
	return cases, granted
}

// TestIndexedDifferential: indexed vs plain compilation vs the reference
// evaluator on 10,000 random cases (40,000 without -short).
func TestIndexedDifferential(t *testing.T) {
	sets := 40
	if !testing.Short() {
		sets = 160
	}
	cases, granted := differential(t, 20261204, sets, 10, 250)
	t.Logf("%d cases, %d with grants", cases, granted)
	if granted < cases/10 {
		t.Errorf("only %d of %d cases granted anything", granted, cases)
	}
}

// FuzzIndexed runs the differential test from fuzzed seeds: 70 cases per
// seed (compiling the set costs more than deciding them), so that `make
// fuzz`'s 150 inputs are 10,500 cases.
func FuzzIndexed(f *testing.F) {
	f.Add(uint64(1))
	f.Add(uint64(42))
	f.Fuzz(func(t *testing.T, seed uint64) {
		differential(t, seed, 1, 12, 70)
	})
}

// TestIndexIncremental: an index built rule by rule, with replacements,
// disables and deletes, holds the same module and data as one built from
// the final rule set, and its patches turn the first data document into
// the last.
func TestIndexIncremental(t *testing.T) {
	g := gen{newRand(99)}
	ix, err := NewIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := ix.Data()
	final := map[string]Rule{}
	for i := range 400 {
		id := fmt.Sprintf("r%d", g.r.IntN(120))
		var patches []Patch
		switch g.r.IntN(6) {
		case 0:
			patches, _ = ix.Delete(id)
			delete(final, id)
		default:
			r := g.rule(i)
			r.ID = id
			r.Disabled = g.r.IntN(8) == 0
			patches, _, _ = ix.Put(r)
			if r.Disabled {
				delete(final, id)
			} else {
				final[id] = r
			}
		}
		for _, p := range patches {
			applyPatch(doc, p)
		}
	}
	var rs []Rule
	for _, id := range slices.Sorted(maps.Keys(final)) {
		rs = append(rs, final[id])
	}
	mod, data, _ := CompileIndexed(rs, nil)
	if got := ix.Module(); got != mod {
		t.Fatalf("incremental module differs from a full build:\n%s\n----\n%s", got, mod)
	}
	norm := func(m map[string]any) map[string]any { return prune(m).(map[string]any) }
	if got := ix.Data(); !reflect.DeepEqual(norm(got), norm(data)) {
		t.Fatalf("incremental data differs from a full build")
	}
	if !reflect.DeepEqual(norm(doc), norm(data)) {
		t.Fatalf("the patches do not give the full build's data:\n%v\n%v", doc, data)
	}
}

func applyPatch(doc map[string]any, p Patch) {
	m := doc
	for _, k := range p.Path[:len(p.Path)-1] {
		m = dir(m, k)
	}
	k := p.Path[len(p.Path)-1]
	if p.Value == nil {
		delete(m, k)
	} else {
		m[k] = p.Value
	}
}

// prune drops empty objects and buckets without keys (a bucket emptied by
// patches keeps its path).
func prune(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		x = prune(x)
		if xm, ok := x.(map[string]any); ok {
			if len(xm) == 0 {
				continue
			}
			if keys, ok := xm["keys"]; ok && keys == nil {
				continue
			}
		}
		if k == "attrs" {
			if a, ok := x.([]any); ok && len(a) == 0 {
				continue
			}
		}
		out[k] = x
	}
	if len(out) == 0 {
		return map[string]any{}
	}
	return out
}

// TestSubjectReaders: in the indexed modules of random rule sets (the
// differential test's, with every kind of atom and HasPrivilege), every
// rule that reads input.subject is one SubjectReaders names.
func TestSubjectReaders(t *testing.T) {
	g := gen{newRand(20261205)}
	sets := 60
	if testing.Short() {
		sets = 20
	}
	readers := 0
	for m := range sets {
		var rs []Rule
		for i := range 16 {
			rs = append(rs, g.rule(m*16+i))
		}
		mod, _, diags := CompileIndexed(rs, nil)
		if HasErrors(diags) {
			continue
		}
		parsed, err := ast.ParseModuleWithOpts("gen.rego", mod, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range parsed.Rules {
			reads := false
			ast.WalkRefs(r, func(ref ast.Ref) bool {
				if len(ref) >= 2 && ref[0].Equal(ast.InputRootDocument) {
					if s, ok := ref[1].Value.(ast.String); !ok || s == "subject" {
						reads = true
					}
				}
				return reads
			})
			if !reads {
				continue
			}
			readers++
			if name := r.Head.Ref()[0].String(); !SubjectReaders.MatchString(name) {
				t.Fatalf("set %d: rule %s reads input.subject and is not among SubjectReaders:\n%v", m, name, r)
			}
		}
	}
	if readers == 0 {
		t.Fatal("no rule read input.subject: the sets test nothing")
	}
}
