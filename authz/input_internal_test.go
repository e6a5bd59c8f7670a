package authz

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestInternedInputObjects: the inputs valueWith builds with the
// engine's interned set (the resource object taken from it) are the inputs
// it builds without it, for inputs that differ from a base in one field
// each (so that a key that left a field out would hand a variant the
// base's object), asked three times (built, built and kept, found);
// equal resources share one object, and the set stays bounded, keeping the
// objects in use.
func TestInternedInputObjects(t *testing.T) {
	base := Input{
		Subject: Subject{ID: "u-1", Name: "alice", Email: "a@x", Roles: []string{"Developer"},
			Groups: []string{"Sales"}, GroupIDs: []string{"g-1"}, License: License{Type: "professional"},
			Attributes: map[string][]string{"dept": {"Finance"}}, Spaces: map[string][]string{"sp-1": {"canview"}}},
		Action: "read",
		Resource: Resource{Type: "app", ID: "a-1", Name: "Q4", Owner: "u-2", SpaceID: "sp-1", SpaceType: "shared",
			Attributes: map[string][]string{"tag": {"x"}},
			Space:      &Related{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u-3"}},
		Environment: "hub",
	}
	variants := []func(*Input){
		func(in *Input) {},
		func(in *Input) { in.Subject.ID = "u-9" },
		func(in *Input) { in.Subject.Name = "bob" },
		func(in *Input) { in.Subject.Email = "b@x" },
		func(in *Input) { in.Subject.Status = "disabled" },
		func(in *Input) { in.Subject.Anonymous = true },
		func(in *Input) { in.Subject.Roles = []string{"Developer", "TenantAdmin"} },
		func(in *Input) { in.Subject.Roles = nil },
		func(in *Input) { in.Subject.Groups = []string{"Finance"} },
		func(in *Input) { in.Subject.GroupIDs = []string{"g-1", "g-2"} },
		func(in *Input) { in.Subject.License.Type = "analyzer" },
		func(in *Input) { in.Subject.License.Excluded = true },
		func(in *Input) { in.Subject.License.CapacityExhausted = true },
		func(in *Input) { in.Subject.Attributes = map[string][]string{"dept": {"Sales"}} },
		func(in *Input) { in.Subject.Attributes = map[string][]string{"dept": {"Finance", "Sales"}} },
		func(in *Input) { in.Subject.Spaces = map[string][]string{"sp-1": {"canedit"}} },
		func(in *Input) { in.Subject.Spaces = map[string][]string{"sp-1": {"canview"}, "sp-2": {"admin"}} },
		func(in *Input) { in.Resource.Type = "space" },
		func(in *Input) { in.Resource.ID = "a-2" },
		func(in *Input) { in.Resource.Name = "Q5" },
		func(in *Input) { in.Resource.Owner = "u-1" },
		func(in *Input) { in.Resource.SpaceID = "sp-2" },
		func(in *Input) { in.Resource.SpaceType = "managed" },
		func(in *Input) { in.Resource.ObjectType = "sheet" },
		func(in *Input) { in.Resource.Public = true },
		func(in *Input) { in.Resource.SectionAccess = true },
		func(in *Input) { in.Resource.TargetSpaceID = "sp-3" },
		func(in *Input) { in.Resource.TargetSpaceType = "personal" },
		func(in *Input) { in.Resource.Attributes = nil },
		func(in *Input) { in.Resource.Attributes = map[string][]string{"tag": {"x", "y"}} },
		func(in *Input) { in.Resource.Space = nil },
		func(in *Input) {
			in.Resource.Space = &Related{ID: "sp-1", Name: "Sales", Type: "managed", Owner: "u-3"}
		},
		func(in *Input) { in.Resource.App = &Related{ID: "a-1", Name: "Q4", Owner: "u-2", SpaceID: "sp-1"} },
	}
	// Projections: every field; the static policy's (id and groupIds by
	// the resource, name, email, groups and attributes left out).
	projections := []*projection{nil, {f: fields{id: byResource, groupIDs: byResource, spaces: byResource,
		status: whole, anonymous: whole, roles: whole, license: whole, flagged: whole}}}
	var s interned
	for pi, p := range projections {
		for round := range 3 {
			for i, vary := range variants {
				in := base
				vary(&in)
				got, want := in.valueWith(&s, p), in.valueWith(nil, p)
				if got.Value.Compare(want.Value) != 0 {
					t.Errorf("projection %d, round %d, variant %d: interned input\n%v\nwant\n%v", pi, round, i, got, want)
				}
			}
		}
	}
	in := base
	in.valueWith(&s, nil) // seen, then kept
	a, b := in.valueWith(&s, nil).Value.(ast.Object), in.valueWith(&s, nil).Value.(ast.Object)
	if a.Get(kResource) != b.Get(kResource) {
		t.Error("equal resources did not share an object")
	}
	// The strings are the set's own: a caller's buffer may change.
	buf := []byte("u-7")
	in.Subject.ID = unsafe.String(&buf[0], len(buf))
	in.Resource.Owner = in.Subject.ID
	v := in.valueWith(&s, nil).Value.(ast.Object)
	copy(buf, "u-8")
	if got := v.Get(kSubject).Value.(ast.Object).Get(kID).String(); got != `"u-7"` {
		t.Errorf("interned subject id = %s after its buffer changed", got)
	}
	if got := v.Get(kResource).Value.(ast.Object).Get(kOwner).String(); got != `"u-7"` {
		t.Errorf("interned resource owner = %s after its buffer changed", got)
	}
	// A resource asked about once is not kept.
	once := base
	once.Resource.ID = "once"
	n := len(s.resources.cur)
	once.valueWith(&s, nil)
	if len(s.resources.cur) != n {
		t.Error("a resource asked about once was kept")
	}
	// Bounded: two generations; the objects in use stay.
	hot := base
	hot.Resource.ID = "hot"
	hot.valueWith(&s, nil)
	hotTerm := hot.valueWith(&s, nil).Value.(ast.Object).Get(kResource)
	for i := range 3 * maxObjects {
		in := base
		in.Resource.ID = fmt.Sprint("a-", i)
		in.valueWith(&s, nil)
		in.valueWith(&s, nil)
		if i%(maxObjects/2) == 0 && hot.valueWith(&s, nil).Value.(ast.Object).Get(kResource) != hotTerm {
			t.Fatalf("after %d other resources, the one in use was built again", i)
		}
	}
	if n := len(s.resources.cur) + len(s.resources.prev); n > 2*maxObjects {
		t.Fatalf("%d interned resources, bound %d", n, 2*maxObjects)
	}
}
