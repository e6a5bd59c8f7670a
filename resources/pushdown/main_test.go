package pushdown_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/policies"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// space is a space of the generated tenant: apps refer to it, the policy's
// view of an app carries it (it is not stored: the pushdown never reads
// the spaces collection for apps).
type space struct{ id, name, typ string }

var testSpaces = []space{
	{"s1", "Sales", "shared"}, {"s2", "sales EU", "shared"}, {"s3", "Finance", "managed"},
	{"s4", "R&D (core)", "managed"}, {"s5", "ops.*", "shared"}, {"s6", "HR", "shared"},
}

var (
	namePieces = []string{"Q", "q", "Sales", "sales", "SALES", "a.b", "a*b", "(x)", "[y]", "^z$", "Ümlaut", "+1", "?", `\d`, " ", "Quarter", "|", "{2}"}
	tagValues  = []string{"Finance", "finance", "HR", "ops.*", "Q1"}
	deptValues = []string{"Sales", "sales", "R&D", "a|b"}
	owners     = []string{"u1", "u2", "u3", "U1"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func some(r *rand.Rand, xs []string, max int) []string {
	var out []string
	for range r.IntN(max + 1) {
		if v := pick(r, xs); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// genApps makes n random apps: mixed-case names with regex
// metacharacters (sometimes empty), personal or in a space, tags and
// attributes present, empty or missing (attributes.tags sometimes beside
// tags, which hide it).
func genApps(r *rand.Rand, n int) []*store.App {
	apps := make([]*store.App, n)
	for i := range apps {
		var name string
		if r.IntN(20) > 0 {
			for range 1 + r.IntN(3) {
				name += pick(r, namePieces)
			}
		}
		a := &store.App{
			ID: fmt.Sprintf("app%04d", i), Name: name, OwnerID: pick(r, owners),
			SectionAccess: r.IntN(3) == 0, Tags: some(r, tagValues, 2),
		}
		if r.IntN(3) > 0 {
			a.SpaceID = pick(r, testSpaces).id
		}
		switch r.IntN(4) {
		case 0: // no attributes
		case 1:
			a.Attributes = map[string][]string{"dept": some(r, deptValues, 2)}
		case 2:
			a.Attributes = map[string][]string{"dept": some(r, deptValues, 2), "region": some(r, []string{"EU", "eu", "US"}, 1)}
		case 3:
			a.Attributes = map[string][]string{"tags": some(r, []string{"Legacy", "finance"}, 2)}
		}
		apps[i] = a
	}
	return apps
}

// view is the policy's view of an app, built as entities.App builds it.
func view(a *store.App) *authz.Resource {
	attrs := a.Attributes
	if len(a.Tags) > 0 {
		attrs = map[string][]string{}
		for k, v := range a.Attributes {
			attrs[k] = v
		}
		attrs["tags"] = a.Tags
	}
	r := &authz.Resource{Type: "app", ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID,
		SectionAccess: a.SectionAccess, Attributes: attrs}
	if a.SpaceID == "" {
		r.SpaceType = store.SpacePersonal
		return r
	}
	for _, sp := range testSpaces {
		if sp.id == a.SpaceID {
			r.Space = &authz.Related{ID: sp.id, Name: sp.name, Type: sp.typ}
			r.SpaceType = sp.typ
		}
	}
	return r
}

func insertApps(t testing.TB, s *store.Store, apps []*store.App) {
	t.Helper()
	for _, a := range apps {
		if err := s.Apps.Create(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

// likePattern turns a like pattern (* any run, ? one character) into the
// planner's anchored RE2 pattern, in lower case when fold.
func likePattern(like string, fold bool) string {
	if fold {
		like = strings.ToLower(like)
	}
	return authz.LikePattern(like)
}

// engine is the real decision engine with the static policies.
func engine(t testing.TB) *authz.Engine {
	t.Helper()
	m, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	e, err := authz.New(context.Background(), authz.Options{Modules: m, Data: data, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
