package authz

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// TestSpecializedAgreesWithGeneral is the differential test of the
// specialization (specialize.go): for keys over the whole vocabulary (every
// resource type and action, with environments, license types, space types
// and object types) and several subjects and resources per key, the
// decision on the key's specialized policy is the decision on the policy
// as compiled: the same allow, the same grants (kind, id, name) and the
// same gates. It runs with no security rules and with the demo tenant's,
// and checks that every key was specialized (none fell back).
func TestSpecializedAgreesWithGeneral(t *testing.T) {
	ctx := context.Background()
	voc, err := VocabularyFrom(newInternalEngine(t, Options{}).opts.Data)
	if err != nil {
		t.Fatal(err)
	}
	all := specTestKeys(voc, testing.Short())
	mod, rdata, diags := rules.CompileIndexed(append(slices.Clone(shippedRules), subjectRules...), rules.DefaultVocabulary())
	if rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	for _, withRules := range []bool{false, true} {
		t.Run(fmt.Sprintf("rules=%v", withRules), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 12))
			cases, decided := 0, 0
			keys := all
			for len(keys) > 0 {
				chunk := keys[:min(len(keys), 120)]
				keys = keys[len(chunk):]
				e := newInternalEngine(t, Options{CacheSize: -1, Specialize: true})
				if withRules {
					if err := e.LoadIndexed(ctx, 1, mod, rdata); err != nil {
						t.Fatal(err)
					}
				}
				c := e.current.Load()
				var ins [][]*Input
				if len(ins) == 0 && len(keys) == len(all)-len(chunk) {
					ins = append(ins, specBenchInputs()) // the benchmarks' inputs, in the first chunk
				}
				for _, k := range chunk {
					var group []*Input
					for range 6 {
						group = append(group, specTestInput(rng, k))
					}
					ins = append(ins, group)
				}
				// Every key first: one compilation for the chunk.
				var terms []*ast.Term
				for _, group := range ins {
					for _, in := range group {
						var projected Input
						terms = append(terms, c.proj.apply(in, &projected).valueWith(&e.strs, c.proj))
					}
				}
				wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				if err := c.specializeNow(wctx, terms...); err != nil {
					cancel()
					t.Fatal(err)
				}
				for _, group := range ins {
					for _, in := range group {
						var projected Input
						term := c.proj.apply(in, &projected).valueWith(&e.strs, c.proj)
						p := c.planFor(term)
						if p == &c.general {
							t.Errorf("%+v: not specialized", in)
							continue
						}
						want, werr := c.decideWith(ctx, &c.general, term)
						got, gerr := c.decideWith(ctx, p, term)
						cases++
						if (werr != nil) != (gerr != nil) {
							t.Errorf("%+v: general error %v, specialized error %v", in, werr, gerr)
							continue
						}
						if want.Allow {
							decided++
						}
						if !reflect.DeepEqual(want, got) {
							t.Errorf("%s %s %s/%s/%s %s: general %+v, specialized %+v", in.Environment, in.Action, in.Resource.Type,
								in.Resource.SpaceType, in.Resource.ObjectType, in.Subject.License.Type, want, got)
						}
					}
				}
				cancel()
			}
			t.Logf("%d decisions agree (%d allowed)", cases, decided)
		})
	}
}

// specBenchInputs are inputs of the engine's benchmarks
// (engine_bench_test.go): members of a shared space reading, deleting,
// updating and exporting its app, and the mix over shared, managed and
// personal spaces with professional and analyzer licenses.
func specBenchInputs() []*Input {
	var ins []*Input
	app := Resource{Type: "app", ID: "a-1", Name: "Q4 report", Owner: "u-owner", SpaceID: "sp-1", SpaceType: "shared",
		Space: &Related{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u-space"}}
	for _, role := range []string{"canview", "canedit", "admin", "owner"} {
		for _, a := range []string{"read", "delete", "update", "export"} {
			ins = append(ins, &Input{Subject: Subject{ID: "u-1", Name: "u-1", Status: "active", License: License{Type: "professional"},
				Spaces: map[string][]string{"sp-1": {role}}}, Action: a, Resource: app, Environment: "hub"})
		}
	}
	for _, sp := range []struct{ typ, role string }{{"shared", "canedit"}, {"managed", "canview"}, {"personal", ""}} {
		for _, a := range []string{"read", "update", "export"} {
			for _, l := range []string{"professional", "analyzer"} {
				r := app
				r.SpaceType = sp.typ
				r.Space = &Related{ID: "sp-1", Name: "Sales", Type: sp.typ, Owner: "u-space"}
				var roles []string
				if sp.role != "" {
					roles = []string{sp.role}
				}
				id := "u-2"
				if sp.typ == "personal" {
					r.SpaceID, r.Space, r.Owner = "", nil, id
				}
				ins = append(ins, &Input{Subject: Subject{ID: id, Name: id, Status: "active", License: License{Type: l},
					Spaces: map[string][]string{"sp-1": roles}}, Action: a, Resource: r, Environment: "hub"})
			}
		}
	}
	return ins
}

// specTestKey is the known part of an input.
type specTestKey struct{ typ, action, env, license, spaceType, objectType string }

// specTestKeys are keys over the vocabulary: every resource type with every
// action, the environment, license and space type cycling; and for the
// types that live in spaces every combination of the others. Short: a
// sample of them.
func specTestKeys(voc *Vocabulary, short bool) []specTestKey {
	envs := []string{"hub", "console"}
	licenses := []string{"professional", "analyzer", "analyzer_capacity", ""}
	spaceTypes := []string{"shared", "managed", "personal", ""}
	objectTypes := []string{"sheet", "story", "bookmark", "snapshot", "masteritem", "variable", "media"}
	types := make([]string, 0, len(voc.ResourceTypes))
	for t := range voc.ResourceTypes {
		types = append(types, t)
	}
	slices.Sort(types)
	actions := voc.ActionNames()
	seen := map[specTestKey]bool{}
	var keys []specTestKey
	add := func(k specTestKey) {
		if k.typ != "app.object" {
			k.objectType = ""
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	i := 0
	for _, typ := range types {
		for _, a := range actions {
			add(specTestKey{typ, a, envs[i%2], licenses[i%4], spaceTypes[(i/2)%4], objectTypes[i%7]})
			i++
		}
	}
	for _, typ := range []string{"app", "app.object", "space", "schedule"} {
		for _, a := range actions {
			for _, env := range envs {
				for _, l := range licenses {
					for _, st := range spaceTypes {
						add(specTestKey{typ, a, env, l, st, objectTypes[i%7]})
						i++
					}
				}
			}
		}
	}
	if short {
		rng := rand.New(rand.NewPCG(1, 2))
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		keys = keys[:24]
	}
	return keys
}

// specTestInput is an input of key k with a random subject and resource.
func specTestInput(rng *rand.Rand, k specTestKey) *Input {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	spaceRoles := []string{"owner", "admin", "canedit", "canview", "canmanage", "canpublish", "cancontribute",
		"hasrestrictedview", "canconsumedata", "canoperate"}
	id := pick("u1", "u2", "")
	s := Subject{ID: id, Name: pick("Bob", "Alice"), Status: pick("active", "active", "active", "active", "active", "disabled"),
		Anonymous: rng.IntN(12) == 0, License: License{Type: k.license, Excluded: rng.IntN(12) == 0, CapacityExhausted: rng.IntN(12) == 0},
		Spaces: map[string][]string{}}
	for range rng.IntN(3) {
		s.Roles = append(s.Roles, pick("TenantAdmin", "Developer", "AuthzClient", "RootAdmin", "ContentAdmin", "SecurityAdmin", "AuditAdmin", "HubAdmin"))
	}
	if rng.IntN(2) == 0 {
		s.GroupIDs, s.Groups = []string{pick("g1", "g2")}, []string{pick("Sales", "Finance")}
	}
	if rng.IntN(3) == 0 {
		s.Attributes = map[string][]string{"department": {pick("Finance", "Sales")}}
	}
	for _, sp := range []string{"sp-1", "sp-2"} {
		if rng.IntN(3) > 0 {
			s.Spaces[sp] = []string{spaceRoles[rng.IntN(len(spaceRoles))]}
		}
	}
	r := Resource{Type: k.typ, ID: pick("a-1", "u1", "u2", ""), Name: pick("Q4 report", "Plan"), Owner: pick("u1", "u2", "u-owner", ""),
		SpaceID: pick("sp-1", "sp-2", ""), SpaceType: k.spaceType, ObjectType: k.objectType,
		Public: rng.IntN(2) == 0, SectionAccess: rng.IntN(4) == 0,
		TargetSpaceID: pick("sp-1", "sp-2", ""), TargetSpaceType: pick("shared", "managed", "personal", "")}
	// The shape of the resource (whether it names its space and app) is
	// part of the key: one shape per key here.
	if len(k.action)%2 == 0 {
		r.Space = &Related{ID: r.SpaceID, Name: "Sales", Type: k.spaceType, Owner: pick("u1", "u-space")}
	}
	if k.typ == "app.object" || k.typ == "schedule" || len(k.typ)%3 == 0 {
		r.App = &Related{ID: "a-1", Name: "Q4 report", Owner: pick("u1", "u2"), SpaceID: r.SpaceID}
	}
	return &Input{Subject: s, Action: k.action, Resource: r, Environment: k.env}
}
