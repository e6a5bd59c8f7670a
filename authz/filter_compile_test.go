package authz

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestCompiledFilterAnswersAsMatch: on random resources and random
// filters over every field the policy's view has (and some it has not),
// Compile's closure answers what Match (through the policy's input value)
// answers.
func TestCompiledFilterAnswersAsMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fields := []string{"type", "id", "name", "owner", "spaceId", "spaceType", "objectType", "public", "sectionAccess",
		"targetSpaceId", "attributes.tags", "attributes.dept", "space.id", "space.name", "space.type", "space.owner",
		"app.id", "app.owner", "app.spaceId", "app.nothing", "nothing", "attributes.tags.x"}
	vals := []string{"", "a", "A", "Q4", "q4", "true", "false", "x y"}
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	var leaf func(depth int) *Filter
	leaf = func(depth int) *Filter {
		if depth > 0 && r.IntN(2) == 0 {
			a, b := leaf(depth-1), leaf(depth-1)
			switch r.IntN(3) {
			case 0:
				return And(a, b)
			case 1:
				return Or(a, b)
			}
			return Not(a)
		}
		f := pick(fields)
		switch r.IntN(3) {
		case 0:
			return Eq(f, pick(vals), pick(vals))
		case 1:
			return EqFold(f, pick(vals))
		}
		return Regex(f, LikePattern(pick([]string{"q*", "?", "*", "a*"})), r.IntN(2) == 0)
	}
	rel := func() *Related {
		if r.IntN(3) == 0 {
			return nil
		}
		return &Related{ID: pick(vals), Name: pick(vals), Type: pick(vals), Owner: pick(vals), SpaceID: pick(vals)}
	}
	for i := range 3000 {
		res := &Resource{Type: pick(vals), ID: pick(vals), Name: pick(vals), Owner: pick(vals), SpaceID: pick(vals),
			SpaceType: pick(vals), ObjectType: pick(vals), Public: r.IntN(2) == 0, SectionAccess: r.IntN(2) == 0,
			TargetSpaceID: pick(vals), Space: rel(), App: rel()}
		if r.IntN(2) == 0 {
			res.Attributes = map[string][]string{"tags": {pick(vals), pick(vals)}}
		}
		f := leaf(3)
		want, err := f.Match(res)
		if err != nil {
			t.Fatal(err)
		}
		run, err := f.Compile()
		if err != nil {
			t.Fatal(err)
		}
		if got := run(res); got != want {
			t.Fatalf("case %d: %s on %s: compiled %v, Match %v", i, f, fmt.Sprintf("%+v", res), got, want)
		}
	}
	if _, err := And(Eq("name", "x"), Opaque("why")).Compile(); err == nil {
		t.Fatal("an opaque filter compiles")
	}
}
