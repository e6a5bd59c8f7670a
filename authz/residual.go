package authz

import (
	"strings"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// The residual of a security rule: what is left of its resource filter and
// condition once the subject is known and the resource is not, as a Filter
// over the resource's fields. It follows the matcher's three-valued
// evaluation (prefilter.go) and the semantics of the generated Rego
// (authz/rules): what the matcher would answer True or False becomes a
// constant, comparisons of a resource attribute with known values become
// field conditions, and anything else (HasPrivilege, two resource
// attributes compared) becomes opaque. `matches` becomes a FilterRegex
// evaluated with Go's RE2 exactly as the rule language does;
// resources/pushdown hands it to the database only when MongoDB's regex
// reads it alike.

// SelectFilter is the rule's resource filter for resources of type typ
// (lower case, as in the input): Everything or Nothing for type terms, the
// id for id terms.
func (m *RuleMatcher) SelectFilter(typ string) *Filter {
	if !m.valid {
		return Nothing()
	}
	var out []*Filter
	for _, t := range m.terms {
		switch t.kind {
		case rules.TermAll:
			return Everything()
		case rules.TermType, rules.TermID:
			switch {
			case t.known != "" && t.known != typ:
				continue
			case t.known == "" && t.typ != typ:
				continue
			case t.known == "":
				out = append(out, Opaque("resource filter type "+t.typ+" is not in the vocabulary"))
				continue
			}
			if t.kind == rules.TermID {
				out = append(out, Eq("id", t.id))
			} else {
				out = append(out, Everything())
			}
		case rules.TermPrefix:
			if m.Selects(typ, "") == True {
				out = append(out, Everything())
			} else if strings.HasPrefix(typ, t.prefix) {
				out = append(out, Opaque("resource filter prefix "+t.prefix))
			}
		}
	}
	return Or(out...)
}

// Residual is the rule's condition for subject s (known) over an unknown
// resource.
func (m *RuleMatcher) Residual(s *Target) *Filter {
	if !m.valid {
		return Nothing()
	}
	if m.cond == nil {
		return Everything()
	}
	return m.residual(m.cond, s)
}

func (m *RuleMatcher) residual(e rules.Expr, s *Target) *Filter {
	if v := m.eval(e, s, nil, nil); v != Unknown {
		return constant(v == True)
	}
	switch e := e.(type) {
	case *rules.Logical:
		parts := make([]*Filter, len(e.Operands))
		for i, o := range e.Operands {
			parts[i] = m.residual(o, s)
		}
		if e.Op == rules.And {
			return And(parts...)
		}
		return Or(parts...)
	case *rules.Not:
		return Not(m.residual(e.X, s))
	case *rules.Compare:
		return m.compareResidual(e, s)
	case *rules.Call:
		return m.callResidual(e)
	}
	return Opaque("unknown expression")
}

func constant(b bool) *Filter {
	if b {
		return Everything()
	}
	return Nothing()
}

// field is the dotted resource field a path names, when it is a resource
// attribute the vocabulary places.
func (m *RuleMatcher) field(o rules.Operand) (string, bool) {
	p, ok := o.(*rules.Path)
	if !ok || len(p.Segments) < 2 || !strings.EqualFold(p.Segments[0].Name, "resource") {
		return "", false
	}
	path, ok := m.resourcePath(p.Segments[1:])
	if !ok {
		return "", false
	}
	return strings.Join(path, "."), true
}

func (m *RuleMatcher) compareResidual(c *rules.Compare, s *Target) *Filter {
	left, lok := m.field(c.Left)
	right, rok := m.field(c.Right)
	var field string
	var known rules.Operand
	switch {
	case lok && !rok:
		field, known = left, c.Right
	case rok && !lok && c.Op != rules.OpLike && c.Op != rules.OpMatches:
		field, known = right, c.Left // equality is symmetric
	default:
		return Opaque("comparison " + c.Op.String() + " of two unknown operands")
	}
	vals, ok := m.operand(known, s, nil)
	if !ok {
		return Opaque("comparison with an operand that is not known")
	}
	switch c.Op {
	case rules.OpEq:
		return EqFold(field, vals...)
	case rules.OpNe:
		return Not(EqFold(field, vals...))
	case rules.OpEqCase:
		return Eq(field, vals...)
	case rules.OpNeCase:
		return Not(Eq(field, vals...))
	case rules.OpLike:
		if _, ok := known.(*rules.Literal); ok {
			if p, ok := likePattern(c); ok {
				return Regex(field, p, true)
			}
		}
	case rules.OpMatches:
		// Case-sensitive and anchored to the whole value, as the rule
		// language reads it (Go's RE2, where $ without (?m) is \z); the
		// pushdown decides whether the database may read it alike.
		if _, ok := known.(*rules.Literal); ok && m.re[c] != nil {
			return Regex(field, m.re[c].String(), false)
		}
	}
	return Opaque("comparison " + c.Op.String())
}

// anyValue matches a field with at least one non-empty value.
const anyValue = `^(?s:.+)\z`

func (m *RuleMatcher) callResidual(c *rules.Call) *Filter {
	switch strings.ToLower(c.Name) {
	case "isowned", "empty":
		if c.Receiver == nil || len(c.Receiver.Segments) == 0 || !strings.EqualFold(c.Receiver.Segments[0].Name, "resource") {
			break
		}
		segs := c.Receiver.Segments
		if strings.EqualFold(c.Name, "isowned") {
			segs = append(append([]rules.Segment{}, segs...), rules.Segment{Name: "owner"})
		}
		field, ok := m.field(&rules.Path{Segments: segs})
		if !ok {
			break
		}
		nonEmpty := Regex(field, anyValue, false)
		if strings.EqualFold(c.Name, "empty") {
			return Not(nonEmpty)
		}
		return nonEmpty
	}
	return Opaque("function " + c.Name)
}
