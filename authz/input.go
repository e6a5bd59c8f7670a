package authz

import (
	"slices"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
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
// round trip rego.EvalInput would make.
func (in *Input) value() ast.Value {
	s := &in.Subject
	subject := ast.NewObject(
		str("id", s.ID), str("name", s.Name), str("email", s.Email), str("status", s.Status),
		boolean("anonymous", s.Anonymous),
		strs("roles", s.Roles), strs("groups", s.Groups), strs("groupIds", s.GroupIDs),
		[2]*ast.Term{ast.StringTerm("license"), ast.NewTerm(ast.NewObject(
			str("type", s.License.Type), boolean("excluded", s.License.Excluded),
			boolean("capacityExhausted", s.License.CapacityExhausted)))},
		multi("attributes", s.Attributes), multi("spaces", s.Spaces),
	)
	r := &in.Resource
	resource := ast.NewObject(
		str("type", r.Type), str("id", r.ID), str("name", r.Name), str("owner", r.Owner),
		str("spaceId", r.SpaceID), str("spaceType", r.SpaceType), str("objectType", r.ObjectType),
		boolean("public", r.Public), boolean("sectionAccess", r.SectionAccess),
		str("targetSpaceId", r.TargetSpaceID), str("targetSpaceType", r.TargetSpaceType),
		multi("attributes", r.Attributes),
	)
	if r.Space != nil {
		resource.Insert(ast.StringTerm("space"), related(r.Space))
	}
	if r.App != nil {
		resource.Insert(ast.StringTerm("app"), related(r.App))
	}
	return ast.NewObject(
		[2]*ast.Term{ast.StringTerm("subject"), ast.NewTerm(subject)},
		str("action", in.Action),
		[2]*ast.Term{ast.StringTerm("resource"), ast.NewTerm(resource)},
		[2]*ast.Term{ast.StringTerm("context"), ast.NewTerm(ast.NewObject(str("environment", in.Environment)))},
	)
}

func related(r *Related) *ast.Term {
	return ast.NewTerm(ast.NewObject(str("id", r.ID), str("name", r.Name), str("type", r.Type),
		str("owner", r.Owner), str("spaceId", r.SpaceID)))
}

func str(k, v string) [2]*ast.Term { return [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(v)} }

func boolean(k string, v bool) [2]*ast.Term {
	return [2]*ast.Term{ast.StringTerm(k), ast.BooleanTerm(v)}
}

func strs(k string, vs []string) [2]*ast.Term {
	terms := make([]*ast.Term, len(vs))
	for i, v := range vs {
		terms[i] = ast.StringTerm(v)
	}
	return [2]*ast.Term{ast.StringTerm(k), ast.ArrayTerm(terms...)}
}

func multi(k string, m map[string][]string) [2]*ast.Term {
	obj := ast.NewObject()
	for name, vs := range m {
		obj.Insert(ast.StringTerm(name), strs("", vs)[1])
	}
	return [2]*ast.Term{ast.StringTerm(k), ast.NewTerm(obj)}
}

// appendKey appends a canonical encoding of the input to b: equal inputs
// give equal bytes and different inputs different bytes (every string is
// length-prefixed, maps are sorted), so the encoding can key the cache.
func (in *Input) appendKey(b []byte) []byte {
	s := &in.Subject
	b = kstr(b, s.ID, s.Name, s.Email, s.Status, in.Action, in.Environment)
	b = kbool(b, s.Anonymous, s.License.Excluded, s.License.CapacityExhausted)
	b = kstr(b, s.License.Type)
	b = klist(b, s.Roles)
	b = klist(b, s.Groups)
	b = klist(b, s.GroupIDs)
	b = kmap(b, s.Attributes)
	b = kmap(b, s.Spaces)
	r := &in.Resource
	b = kstr(b, r.Type, r.ID, r.Name, r.Owner, r.SpaceID, r.SpaceType, r.ObjectType, r.TargetSpaceID, r.TargetSpaceType)
	b = kbool(b, r.Public, r.SectionAccess, r.Space != nil, r.App != nil)
	b = kmap(b, r.Attributes)
	for _, rel := range []*Related{r.Space, r.App} {
		if rel != nil {
			b = kstr(b, rel.ID, rel.Name, rel.Type, rel.Owner, rel.SpaceID)
		}
	}
	return b
}

func kstr(b []byte, vs ...string) []byte {
	for _, v := range vs {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
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

func klist(b []byte, vs []string) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(len(vs)), 10)
	return kstr(b, vs...)
}

func kmap(b []byte, m map[string][]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(len(keys)), 10)
	for _, k := range keys {
		b = kstr(b, k)
		b = klist(b, m[k])
	}
	return b
}
