package decisionlog

import (
	"slices"
	"strconv"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/jsonwrite"
)

// The writer encodes entries by hand: encoding/json costs several times
// more per entry, and the writer shares the CPU with the decisions it logs.
// TestAppendMatchesEncodingJSON holds the bytes equal to json.Marshal's of
// Entry (every field of the input types filled in, so that a field added to
// authz.Subject or authz.Resource without a line here fails it).

// maskNode is one step of the mask paths: erase (a leaf), or the steps
// below it.
type maskNode struct {
	erase bool
	next  map[string]*maskNode
}

func (n *maskNode) child(key string) *maskNode {
	if n == nil {
		return nil
	}
	return n.next[key]
}

// appender writes one entry; path and erased follow the mask.
type appender struct {
	b      []byte
	keys   []string // scratch for sorting map keys
	path   []string
	erased []string
}

// key starts the member key of an object (comma first unless first) and
// reports whether its value is to be written: false when the mask erases
// it (then nothing is written and its pointer is recorded).
func (a *appender) key(first *bool, m *maskNode, k string) bool {
	if c := m.child(k); c != nil && c.erase {
		p := "/input"
		for _, s := range a.path {
			p += "/" + s
		}
		a.erased = append(a.erased, p+"/"+k)
		return false
	}
	if !*first {
		a.b = append(a.b, ',')
	}
	*first = false
	a.b = jsonwrite.String(a.b, k)
	a.b = append(a.b, ':')
	return true
}

func (a *appender) str(first *bool, m *maskNode, k, v string, omitEmpty bool) {
	if omitEmpty && v == "" {
		return
	}
	if a.key(first, m, k) {
		a.b = jsonwrite.String(a.b, v)
	}
}

func (a *appender) boolean(first *bool, m *maskNode, k string, v, omitEmpty bool) {
	if omitEmpty && !v {
		return
	}
	if a.key(first, m, k) {
		a.b = strconv.AppendBool(a.b, v)
	}
}

func (a *appender) strs(first *bool, m *maskNode, k string, v []string, omitEmpty bool) {
	if omitEmpty && len(v) == 0 {
		return
	}
	if a.key(first, m, k) {
		a.b = appendStrings(a.b, v)
	}
}

// multi writes a map of lists with sorted keys, as encoding/json does.
func (a *appender) multi(first *bool, m *maskNode, k string, v map[string][]string) {
	if len(v) == 0 {
		return
	}
	keys := a.keys[:0]
	for name := range v {
		keys = append(keys, name)
	}
	slices.Sort(keys)
	a.multiKeys(first, m, k, v, keys)
	clear(keys)
	a.keys = keys[:0]
}

// multiKeys writes of a map of lists the members keys (sorted, each in v)
// in their order; nothing when there are none.
func (a *appender) multiKeys(first *bool, m *maskNode, k string, v map[string][]string, keys []string) {
	if len(keys) == 0 || !a.key(first, m, k) {
		return
	}
	sub := m.child(k)
	a.path = append(a.path, k)
	a.b = append(a.b, '{')
	f := true
	for _, name := range keys {
		if a.key(&f, sub, name) {
			a.b = appendStrings(a.b, v[name])
		}
	}
	a.b = append(a.b, '}')
	a.path = a.path[:len(a.path)-1]
}

// object writes k: {…} with body writing the members under the mask node.
func (a *appender) object(first *bool, m *maskNode, k string, body func(m *maskNode)) {
	if !a.key(first, m, k) {
		return
	}
	a.path = append(a.path, k)
	a.b = append(a.b, '{')
	body(m.child(k))
	a.b = append(a.b, '}')
	a.path = a.path[:len(a.path)-1]
}

// input writes the input document under the mask.
func (a *appender) input(in *policyInput, m *maskNode) {
	a.b = append(a.b, '{')
	f := true
	a.object(&f, m, "subject", func(m *maskNode) {
		s := &in.Subject
		f := true
		a.str(&f, m, "id", s.ID, false)
		a.str(&f, m, "name", s.Name, true)
		a.str(&f, m, "email", s.Email, true)
		a.str(&f, m, "status", s.Status, true)
		a.boolean(&f, m, "anonymous", s.Anonymous, true)
		a.strs(&f, m, "roles", s.Roles, true)
		a.strs(&f, m, "groups", s.Groups, true)
		a.strs(&f, m, "groupIds", s.GroupIDs, true)
		a.object(&f, m, "license", func(m *maskNode) {
			f := true
			a.str(&f, m, "type", s.License.Type, false)
			a.boolean(&f, m, "excluded", s.License.Excluded, true)
			a.boolean(&f, m, "capacityExhausted", s.License.CapacityExhausted, true)
		})
		a.multi(&f, m, "attributes", s.Attributes)
		a.multiKeys(&f, m, "spaces", in.spaces, in.spaceIDs)
	})
	a.str(&f, m, "action", in.Action, false)
	a.object(&f, m, "resource", func(m *maskNode) {
		r := &in.Resource
		f := true
		a.str(&f, m, "type", r.Type, false)
		a.str(&f, m, "id", r.ID, true)
		a.str(&f, m, "name", r.Name, true)
		a.str(&f, m, "owner", r.Owner, true)
		a.str(&f, m, "spaceId", r.SpaceID, true)
		a.str(&f, m, "spaceType", r.SpaceType, true)
		a.str(&f, m, "objectType", r.ObjectType, true)
		a.boolean(&f, m, "public", r.Public, true)
		a.boolean(&f, m, "sectionAccess", r.SectionAccess, true)
		a.str(&f, m, "targetSpaceId", r.TargetSpaceID, true)
		a.str(&f, m, "targetSpaceType", r.TargetSpaceType, true)
		a.multi(&f, m, "attributes", r.Attributes)
		for _, rel := range []struct {
			k string
			v *authz.Related
		}{{"space", r.Space}, {"app", r.App}} {
			if rel.v == nil {
				continue
			}
			a.object(&f, m, rel.k, func(m *maskNode) {
				f := true
				a.str(&f, m, "id", rel.v.ID, false)
				a.str(&f, m, "name", rel.v.Name, true)
				a.str(&f, m, "type", rel.v.Type, true)
				a.str(&f, m, "owner", rel.v.Owner, true)
				a.str(&f, m, "spaceId", rel.v.SpaceID, true)
			})
		}
	})
	a.object(&f, m, "context", func(m *maskNode) {
		f := true
		a.str(&f, m, "environment", in.Context.Environment, false)
	})
	a.b = append(a.b, '}')
}

// entry writes e, its input in (masked by m), as json.Marshal would.
func (a *appender) entry(e *Entry, in *policyInput, m *maskNode) {
	var none *maskNode
	f := true
	a.b = append(a.b, '{')
	a.str(&f, none, "decision_id", e.DecisionID, false)
	a.object(&f, none, "labels", func(*maskNode) {
		f := true
		a.str(&f, none, "id", e.Labels.ID, false)
		a.str(&f, none, "version", e.Labels.Version, false)
	})
	a.object(&f, none, "bundles", func(*maskNode) {
		f := true
		a.object(&f, none, "rulekeeper", func(*maskNode) {
			f := true
			a.str(&f, none, "revision", e.Bundles.Rulekeeper.Revision, false)
		})
	})
	a.str(&f, none, "path", e.Path, false)
	a.key(&f, none, "input")
	a.input(in, m)
	if d := e.Result; d != nil {
		a.object(&f, none, "result", func(*maskNode) {
			f := true
			a.boolean(&f, none, "allow", d.Allow, false)
			objects(a, &f, "grants", d.Grants, func(f *bool, g authz.Grant) {
				a.str(f, none, "kind", g.Kind, false)
				a.str(f, none, "id", g.ID, false)
				a.str(f, none, "name", g.Name, true)
			})
			objects(a, &f, "denies", d.Denies, func(f *bool, g authz.Deny) {
				a.str(f, none, "kind", g.Kind, false)
				a.str(f, none, "reason", g.Reason, false)
			})
			a.key(&f, none, "revision")
			a.b = strconv.AppendInt(a.b, d.Revision, 10)
		})
	}
	if e.Error != nil {
		a.object(&f, none, "error", func(*maskNode) {
			f := true
			a.str(&f, none, "code", e.Error.Code, false)
			a.str(&f, none, "message", e.Error.Message, false)
		})
	}
	a.key(&f, none, "revision")
	a.b = strconv.AppendInt(a.b, e.Revision, 10)
	a.key(&f, none, "rule_ids")
	a.b = appendStrings(a.b, e.RuleIDs)
	a.str(&f, none, "requested_by", e.RequestedBy, true)
	if q := e.Request; q != nil {
		a.object(&f, none, "request", func(*maskNode) {
			f := true
			a.str(&f, none, "method", q.Method, false)
			a.str(&f, none, "path", q.Path, false)
			a.str(&f, none, "id", q.ID, true)
			a.str(&f, none, "caller", q.Caller, true)
		})
	}
	a.key(&f, none, "timestamp")
	a.b = append(a.b, '"')
	a.b = e.Timestamp.AppendFormat(a.b, time.RFC3339Nano)
	a.b = append(a.b, '"')
	a.object(&f, none, "metrics", func(*maskNode) {
		f := true
		for _, t := range [...]struct {
			k string
			v int64
		}{{"timer_rulekeeper_hydrate_ns", e.Metrics.Hydrate}, {"timer_rego_query_eval_ns", e.Metrics.Eval}, {"timer_rulekeeper_decision_ns", e.Metrics.Decision}} {
			a.key(&f, none, t.k)
			a.b = strconv.AppendInt(a.b, t.v, 10)
		}
	})
	a.strs(&f, none, "erased", a.erased, true)
	a.b = append(a.b, '}')
}

// objects writes k: a list of objects (null when nil), each item's members
// written by each.
func objects[T any](a *appender, first *bool, k string, items []T, each func(first *bool, item T)) {
	a.key(first, nil, k)
	if items == nil {
		a.b = append(a.b, "null"...)
		return
	}
	a.b = append(a.b, '[')
	for i, item := range items {
		if i > 0 {
			a.b = append(a.b, ',')
		}
		a.b = append(a.b, '{')
		f := true
		each(&f, item)
		a.b = append(a.b, '}')
	}
	a.b = append(a.b, ']')
}

func appendStrings(b []byte, vs []string) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonwrite.String(b, v)
	}
	return append(b, ']')
}
