package authz

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// Subject is who asks: a user with what the policy needs to know about them.
// See policies/CONTRACT.md for the meaning of every field.
type Subject struct {
	ID         string              `json:"id"`
	Name       string              `json:"name,omitempty"`
	Email      string              `json:"email,omitempty"`
	Status     string              `json:"status,omitempty"`
	Anonymous  bool                `json:"anonymous,omitempty"`
	Roles      []string            `json:"roles,omitempty"`
	Groups     []string            `json:"groups,omitempty"`   // group names
	GroupIDs   []string            `json:"groupIds,omitempty"` // group ids
	License    License             `json:"license"`
	Attributes map[string][]string `json:"attributes,omitempty"`
	Spaces     map[string][]string `json:"spaces,omitempty"` // space id → effective roles
}

// License is the subject's license assignment.
type License struct {
	Type              string `json:"type"`
	Excluded          bool   `json:"excluded,omitempty"`
	CapacityExhausted bool   `json:"capacityExhausted,omitempty"`
}

// Related is a space or app a resource belongs to.
type Related struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Type    string `json:"type,omitempty"`
	Owner   string `json:"owner,omitempty"`
	SpaceID string `json:"spaceId,omitempty"`
}

// Resource is what the subject acts on.
type Resource struct {
	Type            string              `json:"type"`
	ID              string              `json:"id,omitempty"`
	Name            string              `json:"name,omitempty"`
	Owner           string              `json:"owner,omitempty"`
	SpaceID         string              `json:"spaceId,omitempty"`
	SpaceType       string              `json:"spaceType,omitempty"`
	ObjectType      string              `json:"objectType,omitempty"`
	Public          bool                `json:"public,omitempty"`
	SectionAccess   bool                `json:"sectionAccess,omitempty"`
	TargetSpaceID   string              `json:"targetSpaceId,omitempty"`
	TargetSpaceType string              `json:"targetSpaceType,omitempty"`
	Attributes      map[string][]string `json:"attributes,omitempty"`
	Space           *Related            `json:"space,omitempty"`
	App             *Related            `json:"app,omitempty"`
}

// Input is one question to the policy, already hydrated.
type Input struct {
	Subject     Subject  `json:"subject"`
	Action      string   `json:"action"`
	Resource    Resource `json:"resource"`
	Environment string   `json:"environment"` // "hub" or "console"
}

// value builds the policy input as an OPA value directly, without the JSON
// round trip rego.EvalInput would make. The keys, empty values, booleans
// and the context object are shared terms (OPA never changes an input) and
// the other terms of one input come from one allocation (terms).
func (in *Input) value() ast.Value { return in.valueWith(nil, nil).Value }

// valueWith is value with the strings of the input taken from strs (nil:
// none), so that the ids and names that recur from one decision to the
// next are not boxed anew every time, and without the subject fields that
// no module of p's revision reads (p nil or off: every field). Leaving
// out a field nothing reads changes no decision, as projecting it to its
// zero value does not (doc.go); it keeps the subject object small (an
// object of at most 8 keys costs OPA two allocations fewer).
//
// The security rules' value lists and candidates (input.va: rulevalues.go,
// ruleindex.go) read the subject's fields from the Go input
// (subjectSource). When input.va leaves no atom to the module, the
// subject object has only the fields the static policies read (p.core):
// the module reads none then (doc.go, "The subject's fields the rules
// alone read"), and the others' terms (names, emails, groups, custom
// properties: strings that recur less with many rules) are not built.
func (in *Input) valueWith(strs *interned, p *projection) *ast.Term {
	t, _ := in.valueFound(strs, p)
	return t
}

// valueFound is valueWith, and whether its input.va is noneFound: the
// module's buckets hold no rule the input's candidates prove or leave to
// the module to test.
func (in *Input) valueFound(strs *interned, p *projection) (*ast.Term, bool) {
	a := terms{pool: strs}
	all := p == nil || p.off
	var f fields
	if !all {
		f = p.f
	}
	var resource *ast.Term
	if strs != nil {
		resource = strs.resource(&a, &in.Resource)
	} else {
		resource = a.resource(&in.Resource)
	}
	r := &in.Resource
	top := [5][2]*ast.Term{
		{kSubject, nil}, // below
		{kAction, a.str(in.Action)},
		{kResource, resource},
		{kContext, contextTerm(in.Environment)},
	}
	n := 4
	src := subjectSource{s: &in.Subject, f: &f, all: all, r: &in.Resource}
	core, none := false, false
	if p != nil && len(p.values) > 0 && p.buckets.reads(r.Type, in.Action, in.Environment) {
		// The security rules' value lists (rulevalues.go).
		if va, tested := ruleValueTerm(&a, top[:4], p.values, &src); va != nil {
			top[n] = [2]*ast.Term{kValues, va}
			n++
			core = !tested && !all && !p.noCore
			none = va == noneFound
		}
	}
	if core {
		top[0][1] = a.subject(&in.Subject, &p.core, false)
	} else {
		top[0][1] = src.object(&a)
	}
	return a.term(ast.NewObject(top[:n]...)), none
}

// A subjectSource is the input's subject as the security rules' value
// lists read it (findRules): from the Go input, the fields of the object
// terms.subject builds with f and all, at the same paths and with the same
// values, without building the terms of those the object handed to OPA
// may leave out (valueWith).
type subjectSource struct {
	s    *Subject
	f    *fields
	all  bool
	full *ast.Term // terms.subject's object, once built
	// r, if set, is the resource the input's resource object is built
	// from, read as the subject is (walkResource).
	r *Resource
}

// has reports whether the subject object has a field read as u.
func (src *subjectSource) has(u fieldUse) bool { return src.all || u != unread }

// anonymous is the object's anonymous field, false if it has none.
func (src *subjectSource) anonymous() bool { return src.has(src.f.anonymous) && src.s.Anonymous }

// object is the subject object (terms.subject).
func (src *subjectSource) object(a *terms) *ast.Term {
	if src.full == nil {
		src.full = a.subject(src.s, src.f, src.all)
	}
	return src.full
}

// walk is n.walk on the subject object, n being the subject's node of
// the lists' paths: the strings and lists of strings are read as they
// are, the other fields (booleans, the license) as their terms.
func (src *subjectSource) walk(a *terms, n *valueNode, found []value) {
	if len(n.at) > 0 { // the subject as a whole
		n.walk(src.object(a), found)
		return
	}
	s, f := src.s, src.f
	for _, c := range n.kids {
		var x value
		switch string(c.key.Value.(ast.String)) {
		case "id":
			x = src.str(f.id, s.ID)
		case "name":
			x = src.str(f.name, s.Name)
		case "email":
			x = src.str(f.email, s.Email)
		case "status":
			x = src.str(f.status, s.Status)
		case "roles":
			x = src.strs(f.roles, s.Roles)
		case "groups":
			x = src.strs(f.groups, s.Groups)
		case "groupIds":
			x = src.strs(f.groupIDs, s.GroupIDs)
		case "attributes":
			src.walkMap(a, c, f.attributes, s.Attributes, found)
			continue
		case "spaces":
			src.walkMap(a, c, f.spaces, s.Spaces, found)
			continue
		case "anonymous":
			if src.has(f.anonymous) {
				c.walk(ast.InternedTerm(s.Anonymous), found)
			}
			continue
		case "flagged":
			if src.has(f.flagged) {
				c.walk(ast.InternedTerm(s.flagged()), found)
			}
			continue
		case "license":
			if src.has(f.license) {
				c.walk(licenseTerm(s.License), found)
			}
			continue
		}
		for _, i := range c.at {
			found[i] = x
		}
	}
}

// walkResource is n.walk on the resource object of r (terms.resource,
// whose term, res, it is given), n being the resource's node of the
// lists' paths: its strings and lists of strings read from r, where the
// object would have them.
func walkResource(a *terms, r *Resource, res *ast.Term, n *valueNode, found []value) {
	if len(n.at) > 0 { // the resource as a whole
		n.walk(res, found)
		return
	}
	for _, c := range n.kids {
		var v string
		switch string(c.key.Value.(ast.String)) {
		case "type":
			v = r.Type
		case "id":
			v = r.ID
		case "name":
			v = r.Name
		case "owner":
			v = r.Owner
		case "spaceId":
			v = r.SpaceID
		case "spaceType":
			v = r.SpaceType
		case "objectType":
			v = r.ObjectType
		case "targetSpaceId":
			v = r.TargetSpaceID
		case "targetSpaceType":
			v = r.TargetSpaceType
		case "public":
			c.walk(ast.InternedTerm(r.Public), found)
			continue
		case "sectionAccess":
			c.walk(ast.InternedTerm(r.SectionAccess), found)
			continue
		case "attributes":
			walkMap(a, c, r.Attributes, found)
			continue
		case "space":
			walkRelated(a, c, r.Space, found)
			continue
		case "app":
			walkRelated(a, c, r.App, found)
			continue
		default:
			continue // the object has no such field
		}
		for _, i := range c.at {
			found[i] = value{s: v, kind: vString}
		}
	}
}

// walkRelated is c.walk on the object of the related space or app rel
// (terms.related; none if rel is nil).
func walkRelated(a *terms, c *valueNode, rel *Related, found []value) {
	if rel == nil {
		return
	}
	if len(c.at) > 0 {
		x := termValue(a.related(rel))
		for _, i := range c.at {
			found[i] = x
		}
	}
	for _, k := range c.kids {
		var v string
		switch string(k.key.Value.(ast.String)) {
		case "id":
			v = rel.ID
		case "name":
			v = rel.Name
		case "type":
			v = rel.Type
		case "owner":
			v = rel.Owner
		case "spaceId":
			v = rel.SpaceID
		default:
			continue
		}
		for _, i := range k.at {
			found[i] = value{s: v, kind: vString}
		}
	}
}

// str is the value of a string field read as u (none if the object has
// no such field).
func (src *subjectSource) str(u fieldUse, v string) value {
	if !src.has(u) {
		return value{}
	}
	return value{s: v, kind: vString}
}

// strs is the value of a list field read as u.
func (src *subjectSource) strs(u fieldUse, vs []string) value {
	if !src.has(u) {
		return value{}
	}
	return value{ss: vs, kind: vStrings}
}

// walkMap is c.walk on the object of m (attributes, spaces) read as u:
// its items are lists of strings.
func (src *subjectSource) walkMap(a *terms, c *valueNode, u fieldUse, m map[string][]string, found []value) {
	if src.has(u) {
		walkMap(a, c, m, found)
	}
}

// walkMap is c.walk on the object of m (terms.multi).
func walkMap(a *terms, c *valueNode, m map[string][]string, found []value) {
	if len(c.at) > 0 {
		x := termValue(a.multi(m))
		for _, i := range c.at {
			found[i] = x
		}
	}
	if len(m) < len(c.kids) {
		// Fewer items than paths (custom properties: a few of those the
		// rules name): each item looked up in c's.
		for name, vs := range m {
			if k := c.by[name]; k != nil {
				for _, i := range k.at {
					found[i] = value{ss: vs, kind: vStrings}
				}
			}
		}
		return
	}
	for _, k := range c.kids {
		vs, ok := m[string(k.key.Value.(ast.String))]
		if !ok {
			continue
		}
		for _, i := range k.at {
			found[i] = value{ss: vs, kind: vStrings}
		}
	}
}

// flagged is the subject's input.subject.flagged (policies/CONTRACT.md):
// whether one of its four flags the gates refuse on is set — status
// "disabled", anonymous, license excluded, license capacity exhausted. The
// gates ask it first (policies/gates.rego), so that OPA's rule index
// reads one field for most subjects instead of four; their bodies for
// inputs without it are left out of the engine's compilation (prune.go),
// which is right because every subject object the engine builds
// (valueWith, and the analyses' targets from it) carries it whenever a
// module reads it, computed from the fields the subject object carries
// (the projected subject's, whose flag fields analyse keeps whenever
// flagged is read).
func (s *Subject) flagged() bool {
	return s.Status == "disabled" || s.Anonymous || s.License.Excluded || s.License.CapacityExhausted
}

// subject is the input's subject object: the fields f reads (all: every
// field). Only those fields' terms are built: f may leave out fields the
// projection kept (the core fields, projection.core, leave out the name,
// email, groups and attributes that only the rules read).
func (a *terms) subject(s *Subject, f *fields, all bool) *ast.Term {
	uses := [12]fieldUse{f.id, f.name, f.email, f.status, f.anonymous, f.roles, f.groups, f.groupIDs,
		f.license, f.attributes, f.spaces, f.flagged}
	var sp [12][2]*ast.Term
	n := 0
	for i, use := range uses {
		if !all && use == unread {
			continue
		}
		var k, v *ast.Term
		switch i {
		case 0:
			k, v = kID, a.str(s.ID)
		case 1:
			k, v = kName, a.str(s.Name)
		case 2:
			k, v = kEmail, a.str(s.Email)
		case 3:
			k, v = kStatus, a.str(s.Status)
		case 4:
			k, v = kAnonymous, ast.InternedTerm(s.Anonymous)
		case 5:
			k, v = kRoles, a.strs(s.Roles)
		case 6:
			k, v = kGroups, a.strs(s.Groups)
		case 7:
			k, v = kGroupIDs, a.strs(s.GroupIDs)
		case 8:
			k, v = kLicense, licenseTerm(s.License)
		case 9:
			k, v = kAttributes, a.multi(s.Attributes)
		case 10:
			k, v = kSpaces, a.multi(s.Spaces)
		default:
			k, v = kFlagged, ast.InternedTerm(s.flagged())
		}
		sp[n] = [2]*ast.Term{k, v}
		n++
	}
	if n == 0 {
		return ast.InternedEmptyObject // nothing of the subject is read
	}
	return a.term(ast.NewObject(sp[:n]...))
}

// resource is the input's resource object.
func (a *terms) resource(r *Resource) *ast.Term {
	pairs := [14][2]*ast.Term{
		{kType, a.str(r.Type)}, {kID, a.str(r.ID)}, {kName, a.str(r.Name)}, {kOwner, a.str(r.Owner)},
		{kSpaceID, a.str(r.SpaceID)}, {kSpaceType, a.str(r.SpaceType)}, {kObjectType, a.str(r.ObjectType)},
		{kPublic, ast.InternedTerm(r.Public)}, {kSectionAccess, ast.InternedTerm(r.SectionAccess)},
		{kTargetSpaceID, a.str(r.TargetSpaceID)}, {kTargetSpaceType, a.str(r.TargetSpaceType)},
		{kAttributes, a.multi(r.Attributes)},
	}
	n := 12
	if r.Space != nil {
		pairs[n] = [2]*ast.Term{kSpace, a.related(r.Space)}
		n++
	}
	if r.App != nil {
		pairs[n] = [2]*ast.Term{kApp, a.related(r.App)}
		n++
	}
	return a.term(ast.NewObject(pairs[:n]...))
}

// The keys of the input, shared by every input.
var (
	kSubject, kAction, kResource, kContext, kEnvironment = ast.StringTerm("subject"), ast.StringTerm("action"), ast.StringTerm("resource"), ast.StringTerm("context"), ast.StringTerm("environment")
	kID, kName, kEmail, kStatus, kAnonymous              = ast.StringTerm("id"), ast.StringTerm("name"), ast.StringTerm("email"), ast.StringTerm("status"), ast.StringTerm("anonymous")
	kRoles, kGroups, kGroupIDs, kLicense                 = ast.StringTerm("roles"), ast.StringTerm("groups"), ast.StringTerm("groupIds"), ast.StringTerm("license")
	kAttributes, kSpaces, kType, kExcluded               = ast.StringTerm("attributes"), ast.StringTerm("spaces"), ast.StringTerm("type"), ast.StringTerm("excluded")
	kCapacityExhausted, kOwner, kSpaceID, kSpaceType     = ast.StringTerm("capacityExhausted"), ast.StringTerm("owner"), ast.StringTerm("spaceId"), ast.StringTerm("spaceType")
	kObjectType, kPublic, kSectionAccess                 = ast.StringTerm("objectType"), ast.StringTerm("public"), ast.StringTerm("sectionAccess")
	kTargetSpaceID, kTargetSpaceType, kSpace, kApp       = ast.StringTerm("targetSpaceId"), ast.StringTerm("targetSpaceType"), ast.StringTerm("space"), ast.StringTerm("app")
	kFlagged                                             = ast.StringTerm("flagged")
)

// contexts are the context objects of the two environments and of none.
var contexts = map[string]*ast.Term{
	"hub":     ast.NewTerm(ast.NewObject([2]*ast.Term{kEnvironment, ast.StringTerm("hub")})),
	"console": ast.NewTerm(ast.NewObject([2]*ast.Term{kEnvironment, ast.StringTerm("console")})),
	"":        ast.NewTerm(ast.NewObject([2]*ast.Term{kEnvironment, ast.InternedEmptyString})),
}

func contextTerm(env string) *ast.Term {
	if t, ok := contexts[env]; ok {
		return t
	}
	return ast.NewTerm(ast.NewObject([2]*ast.Term{kEnvironment, ast.StringTerm(env)}))
}

// licenses are the license objects built so far, shared: there are a few
// license types. At most maxLicenses are kept (callers may name any type).
var (
	licenses  sync.Map // License → *ast.Term
	nLicenses atomic.Int32
)

const maxLicenses = 64

func licenseTerm(l License) *ast.Term {
	if t, ok := licenses.Load(l); ok {
		return t.(*ast.Term)
	}
	t := ast.NewTerm(ast.NewObject(
		[2]*ast.Term{kType, ast.StringTerm(l.Type)}, [2]*ast.Term{kExcluded, ast.InternedTerm(l.Excluded)},
		[2]*ast.Term{kCapacityExhausted, ast.InternedTerm(l.CapacityExhausted)}))
	if nLicenses.Load() < maxLicenses {
		if _, loaded := licenses.LoadOrStore(l, t); !loaded {
			nLicenses.Add(1)
		}
	}
	return t
}

// terms hands out the terms of one input from a few allocations.
type terms struct {
	free []ast.Term
	pool *interned // nil: none
}

func (a *terms) term(v ast.Value) *ast.Term {
	if len(a.free) == 0 {
		a.free = make([]ast.Term, 6)
	}
	t := &a.free[0]
	a.free = a.free[1:]
	t.Value = v
	return t
}

func (a *terms) str(v string) *ast.Term {
	if v == "" {
		return ast.InternedEmptyString
	}
	if a.pool != nil {
		return a.pool.term(v)
	}
	return a.term(ast.String(v))
}

func (a *terms) strs(vs []string) *ast.Term {
	if len(vs) == 0 {
		return ast.InternedEmptyArray
	}
	if len(vs) == 1 && a.pool != nil {
		return a.pool.list(vs[0])
	}
	ts := make([]*ast.Term, len(vs))
	for i, v := range vs {
		ts[i] = a.str(v)
	}
	return a.term(ast.NewArray(ts...))
}

func (a *terms) multi(m map[string][]string) *ast.Term {
	if len(m) == 0 {
		return ast.InternedEmptyObject
	}
	if len(m) == 1 && a.pool != nil {
		for name, vs := range m {
			if len(vs) == 1 {
				return a.pool.single(name, vs[0])
			}
		}
	}
	obj := ast.NewObjectWithCapacity(len(m))
	for name, vs := range m {
		obj.Insert(a.str(name), a.strs(vs))
	}
	return a.term(obj)
}

func (a *terms) related(r *Related) *ast.Term {
	if a.pool != nil {
		return a.pool.related(r)
	}
	return a.term(ast.NewObject([2]*ast.Term{kID, a.str(r.ID)}, [2]*ast.Term{kName, a.str(r.Name)},
		[2]*ast.Term{kType, a.str(r.Type)}, [2]*ast.Term{kOwner, a.str(r.Owner)},
		[2]*ast.Term{kSpaceID, a.str(r.SpaceID)}))
}

// interned are string terms shared by the inputs of an engine: the ids,
// names, types and actions that recur from one decision to the next. A hit
// costs a map read under a read lock and no allocation. At most
// maxInterned are kept; past that the set starts again empty, so that it
// follows the strings in use. OPA never changes an input, so a term may be
// in many inputs at once. The strings are copied: callers' strings may
// alias request buffers that are reused (see entityKey.owned).
//
// Lists of one string (a subject's roles in a space, most often) and
// related spaces and apps are interned the same way, by content.
type interned struct {
	mu      sync.RWMutex
	m       map[string]*ast.Term    // string → its term
	lists   map[string]*ast.Term    // s → the term of [s]
	rels    map[Related]*ast.Term   // space or app → its object
	singles map[[2]string]*ast.Term // {k, v} → the term of {k: [v]}
	lowers  map[string]*ast.Term    // s → the term of lower(s)
	llists  map[string]*ast.Term    // s → the term of [lower(s)]
	// resources are the input's resource objects by their encoding
	// (interned.resource), under a lock of their own.
	resources objects
}

const maxInterned = 1 << 15

func (s *interned) term(v string) *ast.Term {
	return intern(&s.mu, &s.m, v, 1024, func() (string, *ast.Term) {
		c := strings.Clone(v)
		return c, ast.StringTerm(c)
	})
}

func (s *interned) list(v string) *ast.Term {
	return intern(&s.mu, &s.lists, v, 256, func() (string, *ast.Term) {
		item := s.term(v)
		return string(item.Value.(ast.String)), ast.ArrayTerm(item)
	})
}

// lower is lower(v), as the security rules' value lists have it
// (rulevalues.go).
func (s *interned) lower(v string) *ast.Term {
	return intern(&s.mu, &s.lowers, v, 256, func() (string, *ast.Term) {
		c := strings.Clone(v)
		return c, s.term(strings.ToLower(c))
	})
}

// lowerList is [lower(v)].
func (s *interned) lowerList(v string) *ast.Term {
	return intern(&s.mu, &s.llists, v, 256, func() (string, *ast.Term) {
		c := strings.Clone(v)
		return c, s.list(strings.ToLower(c))
	})
}

// single is the object {k: [v]}: the subject's roles in the one space a
// resource names (the projection keeps that one), most often one role.
func (s *interned) single(k, v string) *ast.Term {
	return intern(&s.mu, &s.singles, [2]string{k, v}, 256, func() ([2]string, *ast.Term) {
		key := s.term(k)
		list := s.list(v)
		return [2]string{string(key.Value.(ast.String)), string(list.Value.(*ast.Array).Elem(0).Value.(ast.String))},
			ast.NewTerm(ast.NewObject([2]*ast.Term{key, list}))
	})
}

func (s *interned) related(r *Related) *ast.Term {
	return intern(&s.mu, &s.rels, *r, 256, func() (Related, *ast.Term) {
		k := Related{ID: strings.Clone(r.ID), Name: strings.Clone(r.Name), Type: strings.Clone(r.Type),
			Owner: strings.Clone(r.Owner), SpaceID: strings.Clone(r.SpaceID)}
		a := terms{pool: s}
		return k, ast.NewTerm(ast.NewObject([2]*ast.Term{kID, a.str(k.ID)}, [2]*ast.Term{kName, a.str(k.Name)},
			[2]*ast.Term{kType, a.str(k.Type)}, [2]*ast.Term{kOwner, a.str(k.Owner)},
			[2]*ast.Term{kSpaceID, a.str(k.SpaceID)}))
	})
}

// resource is the resource object of terms.resource, by content: the same
// resources are asked about again and again (an app by every user who
// opens it, the apps of a list by every user who lists them), and an
// object of 12–14 keys costs OPA 7 allocations and a hash of every key
// and value to build. Subjects are not kept so: the projected subject
// also depends on the resource (its roles in the resource's space, its id
// and groups as far as the resource names them), so there are many more
// of them, and a set that misses costs more than it saves (bench/README.md,
// "The gates' subject flags folded, and interned resource objects"). One
// that is kept is built with terms of its own: terms taken from the
// input's (a) would keep that whole input alive as long as the object is
// kept.
func (s *interned) resource(a *terms, r *Resource) *ast.Term {
	var buf [256]byte
	return s.resources.get(appendResourceKey(buf[:0], r), func(keep bool) *ast.Term {
		if keep {
			own := terms{pool: s}
			return own.resource(r)
		}
		return a.resource(r)
	})
}

// objects are input objects by their encoding, in two generations of at
// most maxObjects each: once the newer is full it becomes the older and
// the older is dropped, and a hit in the older moves the object to the
// newer, so that the objects in use stay while the others age out (a set
// that started again empty when full would lose the hot ones with the
// cold). An object is kept the second time it is built, not the first
// (seen holds the hashes of the encodings built once): one asked about
// once, as most are in a scan of many, costs no copy of its key and
// stays out of the live heap. A hit costs a map read under a read lock.
type objects struct {
	mu        sync.RWMutex
	cur, prev map[string]*ast.Term
	seen      map[uint64]struct{}
}

// maxObjects bounds each generation of objects (an object is about a
// kilobyte) and the hashes seen.
const maxObjects = 2048

var objectSeed = maphash.MakeSeed()

// get is the object kept under key, or build's: build(true) when it is to
// be kept (key was built before), under a copy of key; build(false) when
// not, which may then use the caller's terms.
func (o *objects) get(key []byte, build func(keep bool) *ast.Term) *ast.Term {
	h := maphash.Bytes(objectSeed, key)
	o.mu.RLock()
	t, ok := o.cur[string(key)]
	old, again := false, false
	if !ok {
		t, old = o.prev[string(key)]
		_, again = o.seen[h]
	}
	o.mu.RUnlock()
	switch {
	case ok:
		return t
	case !old && !again:
		o.mu.Lock()
		if len(o.seen) >= maxObjects || o.seen == nil {
			o.seen = make(map[uint64]struct{}, 256)
		}
		o.seen[h] = struct{}{}
		o.mu.Unlock()
		return build(false)
	case !old:
		t = build(true)
	}
	o.mu.Lock()
	if len(o.cur) >= maxObjects {
		o.prev, o.cur = o.cur, nil
	}
	if o.cur == nil {
		o.cur = make(map[string]*ast.Term, 256)
	}
	o.cur[string(key)] = t
	o.mu.Unlock()
	return t
}

// intern returns (*m)[k], or builds the term and the key it is kept under
// (the key's strings copied: k may alias a caller's buffer), starting a
// new map of size when the set holds maxInterned or none yet.
func intern[K comparable](mu *sync.RWMutex, m *map[K]*ast.Term, k K, size int, build func() (K, *ast.Term)) *ast.Term {
	mu.RLock()
	t, ok := (*m)[k]
	mu.RUnlock()
	if ok {
		return t
	}
	owned, t := build()
	mu.Lock()
	if len(*m) >= maxInterned || *m == nil {
		*m = make(map[K]*ast.Term, size)
	}
	(*m)[owned] = t
	mu.Unlock()
	return t
}

func str(k, v string) [2]*ast.Term { return [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(v)} }

// appendKey appends a canonical encoding of p's projection of the input to
// b (p nil or off: the input itself). It writes the bytes that the
// projected input (p.apply) would give with no projection, without building
// it: equal projected inputs give equal bytes and different ones different
// bytes (every string is length-prefixed, every list and map item is marked
// and closed, maps are sorted), so the encoding can key the cache.
func (in *Input) appendKey(b []byte, p *projection) []byte {
	if p != nil && p.off {
		p = nil
	}
	s := &in.Subject
	r := &in.Resource
	id, name, email, status := s.ID, s.Name, s.Email, s.Status
	anonymous, lic := s.Anonymous, s.License
	roles, groups, attrs := s.Roles, s.Groups, s.Attributes
	var keepGroup, keepSpace func(string) bool
	if p != nil {
		f := &p.f
		id = p.projectID(in)
		if f.name == unread {
			name = ""
		}
		if f.email == unread {
			email = ""
		}
		if f.status == unread {
			status = ""
		}
		if f.anonymous == unread {
			anonymous = false
		}
		if f.license == unread {
			lic = License{}
		}
		if f.roles == unread {
			roles = nil
		}
		if f.groups == unread {
			groups = nil
		}
		if f.attributes == unread {
			attrs = nil
		}
		keepGroup = p.keep(f.groupIDs, r)
		keepSpace = p.keep(f.spaces, r)
	}
	b = kstr(b, id, name, email, status, in.Action, in.Environment)
	b = kbool(b, anonymous, lic.Excluded, lic.CapacityExhausted)
	b = kstr(b, lic.Type)
	b = klist(b, roles, nil)
	b = klist(b, groups, nil)
	b = klist(b, s.GroupIDs, keepGroup)
	b = kmap(b, attrs, nil)
	b = kmap(b, s.Spaces, keepSpace)
	return appendResourceKey(b, r)
}

// appendResourceKey appends the encoding of r: every field the input's
// resource object is built from (the decision cache's key and the
// interned resource objects' both use it).
func appendResourceKey(b []byte, r *Resource) []byte {
	b = kstr(b, r.Type, r.ID, r.Name, r.Owner, r.SpaceID, r.SpaceType, r.ObjectType, r.TargetSpaceID, r.TargetSpaceType)
	b = kbool(b, r.Public, r.SectionAccess, r.Space != nil, r.App != nil)
	b = kmap(b, r.Attributes, nil)
	for _, rel := range [...]*Related{r.Space, r.App} {
		if rel != nil {
			b = kstr(b, rel.ID, rel.Name, rel.Type, rel.Owner, rel.SpaceID)
		}
	}
	return b
}

// kstr appends each string as its length (uvarint) and its bytes.
func kstr(b []byte, vs ...string) []byte {
	for _, v := range vs {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

func kbool(b []byte, vs ...bool) []byte {
	for _, v := range vs {
		if v {
			b = append(b, 'T')
		} else {
			b = append(b, 'F')
		}
	}
	return b
}

// klist appends the items of vs that keep accepts (nil: all), each marked
// by ',', between '[' and ']'.
func klist(b []byte, vs []string, keep func(string) bool) []byte {
	b = append(b, '[')
	for _, v := range vs {
		if keep == nil || keep(v) {
			b = append(b, ',')
			b = kstr(b, v)
		}
	}
	return append(b, ']')
}

// kmap appends the entries of m whose key keep accepts (nil: all), in key
// order, each marked by ',', between '{' and '}'.
func kmap(b []byte, m map[string][]string, keep func(string) bool) []byte {
	var buf [16]string
	keys := buf[:0]
	for k := range m {
		if keep == nil || keep(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	b = append(b, '{')
	for _, k := range keys {
		b = append(b, ',')
		b = kstr(b, k)
		b = klist(b, m[k], nil)
	}
	return append(b, '}')
}

// A projection is what one policy revision can read of input.subject
// (see "Why the projected input decides as the full input" in doc.go).
// Decisions evaluate, and the decision cache keys, the projected input,
// so the key and the evaluation agree by construction.
type projection struct {
	// off: the policy reads input or input.subject as a whole, or a
	// subject field by a computed name; nothing is projected.
	off bool
	// use is how the policy reads each subject field (by JSON name).
	use map[string]fieldUse
	// f is use by field, read on every decision.
	f fields
	// core are the fields the static policies read (of f): the subject
	// object of an input whose input.va leaves no atom to the rules
	// module (valueWith). noCore: the generated module reads a subject
	// field where such an input would reach it (coreReaders); the
	// subject object has the fields of f then.
	core   fields
	noCore bool
	// values are the value lists the security rules read, which the
	// input carries (rulevalues.go); they do not depend on off.
	values []ruleValue
	// buckets are the types, actions and environments for which the
	// rules read them.
	buckets ruleBuckets
}

// fields is how the policy reads each subject field.
type fields struct {
	id, groupIDs, spaces, name, email, status, anonymous, roles, groups, license, attributes fieldUse
	// flagged is computed (Subject.flagged), not a field of Subject.
	flagged fieldUse
}

type fieldUse uint8

const (
	// unread: no module reads the field; the projection drops it.
	unread fieldUse = iota
	// byResource: read only where it is compared with values of the
	// resource (id, groupIds) or, for spaces, indexed by them; the
	// projection keeps the values that occur in the resource.
	byResource
	// whole: kept as it is.
	whole
)

// otherID stands for a subject id that occurs nowhere in the resource.
// It is not empty (an empty id is kept: the policy treats it apart) and
// no stored id contains a NUL; a resource that does contain it keeps the
// real id.
const otherID = "\x00other"

// analyse reads the modules of a revision: the static policies (trusted to
// read id and groupIds only in comparisons with the resource and spaces
// only by the resource's space ids, as doc.go argues) and the generated
// rules module (checked: see generatedUse).
func analyse(statics map[string]*ast.Module, generated *ast.Module) *projection {
	p := &projection{use: map[string]fieldUse{}}
	static := map[string]bool{} // the fields the static policies read
	mark := func(f string, u fieldUse) {
		if u > p.use[f] {
			p.use[f] = u
		}
	}
	for _, m := range statics {
		ast.WalkRefs(m, func(ref ast.Ref) bool {
			f, ok := p.subjectField(ref)
			if ok {
				static[f] = true
			}
			switch {
			case !ok:
			case f == "id" || f == "groupIds":
				mark(f, byResource)
			case f == "spaces" && len(ref) >= 4:
				mark(f, byResource)
			default:
				mark(f, whole)
			}
			return false
		})
	}
	if generated != nil {
		checked := generatedUse(generated)
		ast.WalkRefs(generated, func(ref ast.Ref) bool {
			if f, ok := p.subjectField(ref); ok {
				u := whole
				if f == "id" || f == "groupIds" {
					u = checked[f]
				}
				mark(f, u)
			}
			return false
		})
	}
	if p.use["flagged"] != unread {
		// flagged is computed from the projected subject: keep what it
		// is computed from.
		mark("status", whole)
		mark("anonymous", whole)
		mark("license", whole)
	}
	if static["flagged"] {
		static["status"], static["anonymous"], static["license"] = true, true, true
	}
	p.values = ruleValuesOf(generated)
	p.buckets = ruleBucketsOf(generated)
	u := p.use
	p.f = fields{id: u["id"], groupIDs: u["groupIds"], spaces: u["spaces"], name: u["name"], email: u["email"],
		status: u["status"], anonymous: u["anonymous"], roles: u["roles"], groups: u["groups"],
		license: u["license"], attributes: u["attributes"], flagged: u["flagged"]}
	c := func(f string) fieldUse {
		if static[f] {
			return u[f]
		}
		return unread
	}
	p.core = fields{id: c("id"), groupIDs: c("groupIds"), spaces: c("spaces"), name: c("name"), email: c("email"),
		status: c("status"), anonymous: c("anonymous"), roles: c("roles"), groups: c("groups"),
		license: c("license"), attributes: c("attributes"), flagged: c("flagged")}
	p.noCore = generated != nil && !coreReaders(generated)
	return p
}

// coreReaders reports whether the rules of the generated module m that
// read input.subject are all of those an input whose input.va leaves no
// atom to the module does not reach (doc.go, "The subject's fields the
// rules alone read"), as authz/rules names them (rules.SubjectReaders):
// the value lists, the atoms' tests, the rules compiled to Rego and their
// HasPrivilege helpers.
func coreReaders(m *ast.Module) bool {
	ok := true
	for _, r := range m.Rules {
		reads := false
		ast.WalkRefs(r, func(ref ast.Ref) bool {
			if len(ref) >= 2 && ref[0].Equal(ast.InputRootDocument) {
				if s, isStr := ref[1].Value.(ast.String); !isStr || s == "subject" {
					reads = true
				}
			}
			return reads
		})
		if reads && !rules.SubjectReaders.MatchString(r.Head.Ref()[0].String()) {
			ok = false
		}
	}
	return ok
}

// subjectField names the subject field ref reads (ok false: not a read of
// input.subject.<name>; p.off is set when the read is not by name).
func (p *projection) subjectField(ref ast.Ref) (string, bool) {
	if !ref[0].Equal(ast.InputRootDocument) {
		return "", false
	}
	if len(ref) == 1 {
		p.off = true
		return "", false
	}
	root, ok := ref[1].Value.(ast.String)
	if !ok {
		p.off = true
		return "", false
	}
	if root != "subject" {
		return "", false
	}
	if len(ref) == 2 {
		p.off = true
		return "", false
	}
	f, ok := ref[2].Value.(ast.String)
	if !ok {
		p.off = true
		return "", false
	}
	return string(f), true
}

// generatedUse finds the subject fields id and groupIds that the generated
// rules module reads only as authz/rules emits a comparison with a
// resource attribute (resource.owner = user): a value list
//
//	_lvN := _vli(input.subject.id)
//
// used only as _ne(_lvN), as "x in _lvN" with x bound by "some x in _lvM"
// where _lvM is a value list of input.resource, or as "some x in _lvN"
// with x used only in "x in _lvM" of such a resource list. Those compare
// the subject's values with the resource's, case-insensitively at most, and
// nothing else. Every other read of a subject field is whole.
func generatedUse(m *ast.Module) map[string]fieldUse {
	out := map[string]fieldUse{}
	// lists: value-list rule name → the input root and field it lists.
	type list struct{ root, field string }
	lists := map[ast.Var]list{}
	for _, r := range m.Rules {
		if l, ok := valueList(r); ok {
			lists[r.Head.Name] = list{l[0], l[1]}
		}
	}
	isResource := func(t *ast.Term) bool {
		v, ok := t.Value.(ast.Var)
		return ok && lists[v].root == "resource"
	}
	for _, f := range []string{"id", "groupIds"} {
		names := map[ast.Var]bool{}
		for v, l := range lists {
			if l.root == "subject" && l.field == f {
				names[v] = true
			}
		}
		// Every read of input.subject.f must be inside one of those lists.
		reads, inLists := 0, 0
		for _, r := range m.Rules {
			n := 0
			ast.WalkRefs(r, func(ref ast.Ref) bool {
				if len(ref) >= 3 && ref[0].Equal(ast.InputRootDocument) &&
					ref[1].Equal(ast.StringTerm("subject")) && ref[2].Equal(ast.StringTerm(f)) {
					n++
				}
				return false
			})
			reads += n
			if names[r.Head.Name] {
				inLists += n
			}
		}
		if reads == 0 || reads != inLists {
			out[f] = whole
			continue
		}
		ok := true
		for _, r := range m.Rules {
			if names[r.Head.Name] {
				continue
			}
			total, good := 0, 0
			ast.WalkVars(r, func(v ast.Var) bool {
				if names[v] {
					total++
				}
				return false
			})
			if total == 0 {
				continue
			}
			ast.WalkBodies(r, func(b ast.Body) bool {
				good += goodUses(b, names, isResource)
				return false
			})
			if good != total {
				ok = false
			}
		}
		if ok {
			out[f] = byResource
		} else {
			out[f] = whole
		}
	}
	return out
}

// valueList recognises a value-list rule of authz/rules,
// name := _vli(input.<root>.<field>...) (or _vls), and returns root and
// field.
func valueList(r *ast.Rule) ([2]string, bool) {
	var none [2]string
	if r.Head == nil || r.Head.Value == nil || len(r.Head.Args) > 0 {
		return none, false
	}
	call, ok := r.Head.Value.Value.(ast.Call)
	if !ok || len(call) != 2 {
		return none, false
	}
	if fn := call[0].String(); fn != "_vli" && fn != "_vls" && fn != "data.rulekeeper.rules._vli" && fn != "data.rulekeeper.rules._vls" {
		return none, false
	}
	ref, ok := call[1].Value.(ast.Ref)
	if !ok || len(ref) < 3 || !ref[0].Equal(ast.InputRootDocument) {
		return none, false
	}
	root, ok1 := ref[1].Value.(ast.String)
	field, ok2 := ref[2].Value.(ast.String)
	if !ok1 || !ok2 {
		return none, false
	}
	return [2]string{string(root), string(field)}, true
}

// goodUses counts the accepted uses of the lists names in body b (see
// generatedUse).
func goodUses(b ast.Body, names map[ast.Var]bool, isResource func(*ast.Term) bool) int {
	// member(x, l) splits a call "x in l" into x and l.
	member := func(t *ast.Term) (ast.Var, *ast.Term, bool) {
		call, ok := t.Value.(ast.Call)
		if !ok || len(call) != 3 || call[0].String() != ast.Member.Ref().String() {
			return "", nil, false
		}
		x, ok := call[1].Value.(ast.Var)
		return x, call[2], ok
	}
	exprMember := func(e *ast.Expr) (ast.Var, *ast.Term, bool) {
		if e.Negated || len(e.With) > 0 {
			return "", nil, false
		}
		if sd, ok := e.Terms.(*ast.SomeDecl); ok && len(sd.Symbols) == 1 {
			return member(sd.Symbols[0])
		}
		if e.IsCall() {
			return member(ast.NewTerm(ast.Call(e.Terms.([]*ast.Term))))
		}
		return "", nil, false
	}
	isName := func(t *ast.Term) bool { v, ok := t.Value.(ast.Var); return ok && names[v] }
	// bound: x → bound by "some x in <resource list>" / "some x in <names>".
	fromResource, fromNames := map[ast.Var]bool{}, map[ast.Var]bool{}
	for _, e := range b {
		if _, ok := e.Terms.(*ast.SomeDecl); !ok {
			continue
		}
		if x, l, ok := exprMember(e); ok {
			if isResource(l) {
				fromResource[x] = true
			} else if isName(l) {
				fromNames[x] = true
			}
		}
	}
	good := 0
	for _, e := range b {
		if e.IsCall() && !e.Negated && len(e.With) == 0 {
			ts := e.Terms.([]*ast.Term)
			if len(ts) == 2 && ts[0].String() == "_ne" && isName(ts[1]) {
				good++
				continue
			}
		}
		x, l, ok := exprMember(e)
		if !ok || !isName(l) {
			continue
		}
		if _, some := e.Terms.(*ast.SomeDecl); some {
			// some x in _lvN: x may only meet resource lists.
			if onlyResourceMembership(b, x, e, isResource) {
				good++
			}
			continue
		}
		if fromResource[x] {
			good++
		}
	}
	return good
}

// onlyResourceMembership: every expression of b but decl that mentions x is
// "x in <resource list>", and there is at least one.
func onlyResourceMembership(b ast.Body, x ast.Var, decl *ast.Expr, isResource func(*ast.Term) bool) bool {
	n := 0
	for _, e := range b {
		if e == decl {
			continue
		}
		mentions := false
		ast.WalkVars(e, func(v ast.Var) bool {
			if v == x {
				mentions = true
			}
			return mentions
		})
		if !mentions {
			continue
		}
		if !e.IsCall() || e.Negated || len(e.With) > 0 {
			return false
		}
		ts := e.Terms.([]*ast.Term)
		if len(ts) != 3 || ts[0].String() != ast.Member.Ref().String() {
			return false
		}
		if v, ok := ts[1].Value.(ast.Var); !ok || v != x || !isResource(ts[2]) {
			return false
		}
		n++
	}
	return n > 0
}

// apply projects in into out and returns out (in itself when nothing is
// projected). appendKey encodes the same projection without building it.
func (p *projection) apply(in, out *Input) *Input {
	if p == nil || p.off {
		return in
	}
	*out = *in
	f, s, ps, r := &p.f, &in.Subject, &out.Subject, &in.Resource
	ps.ID = p.projectID(in)
	switch f.groupIDs {
	case unread:
		ps.GroupIDs = nil
	case byResource:
		if n := countFunc(s.GroupIDs, r.mentions); n < len(s.GroupIDs) { // all: shared as they are
			ps.GroupIDs = nil
			for _, g := range s.GroupIDs {
				if n > 0 && r.mentions(g) {
					ps.GroupIDs = append(ps.GroupIDs, g)
				}
			}
		}
	}
	switch f.spaces {
	case unread:
		ps.Spaces = nil
	case byResource:
		n := 0
		for id := range s.Spaces {
			if r.mentions(id) {
				n++
			}
		}
		if n < len(s.Spaces) { // all: shared as they are
			ps.Spaces = nil
			if n > 0 {
				ps.Spaces = make(map[string][]string, n)
				for id, roles := range s.Spaces {
					if r.mentions(id) {
						ps.Spaces[id] = roles
					}
				}
			}
		}
	}
	if f.name == unread {
		ps.Name = ""
	}
	if f.email == unread {
		ps.Email = ""
	}
	if f.status == unread {
		ps.Status = ""
	}
	if f.anonymous == unread {
		ps.Anonymous = false
	}
	if f.roles == unread {
		ps.Roles = nil
	}
	if f.groups == unread {
		ps.Groups = nil
	}
	if f.license == unread {
		ps.License = License{}
	}
	if f.attributes == unread {
		ps.Attributes = nil
	}
	return out
}

// projectID is the subject id as the projection keeps it.
func (p *projection) projectID(in *Input) string {
	id, r := in.Subject.ID, &in.Resource
	switch p.f.id {
	case unread:
		return ""
	case byResource:
		if id != "" && !r.mentions(id) && !r.mentions(otherID) {
			return otherID
		}
	}
	return id
}

// keep is the filter the projection applies to the group ids or space ids
// of a subject read as u: nil keeps all, byResource those the resource
// mentions, unread none.
func (p *projection) keep(u fieldUse, r *Resource) func(string) bool {
	switch u {
	case unread:
		return none
	case byResource:
		return r.mentions
	}
	return nil
}

func none(string) bool { return false }

func countFunc(xs []string, f func(string) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}

// mentions reports whether v equals, ignoring case, a string value of the
// resource (a field, an attribute name or value, a field of its space or
// app). Ignoring case keeps more of the subject than an exact test would:
// the generated rules compare case-insensitively.
func (r *Resource) mentions(v string) bool {
	for _, s := range [...]string{r.Type, r.ID, r.Name, r.Owner, r.SpaceID, r.SpaceType, r.ObjectType, r.TargetSpaceID, r.TargetSpaceType} {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	for k, vs := range r.Attributes {
		if strings.EqualFold(k, v) || slices.ContainsFunc(vs, func(s string) bool { return strings.EqualFold(s, v) }) {
			return true
		}
	}
	for _, rel := range [...]*Related{r.Space, r.App} {
		if rel == nil {
			continue
		}
		for _, s := range [...]string{rel.ID, rel.Name, rel.Type, rel.Owner, rel.SpaceID} {
			if strings.EqualFold(s, v) {
				return true
			}
		}
	}
	return false
}
