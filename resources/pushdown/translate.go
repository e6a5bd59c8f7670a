package pushdown

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
)

// cond is a translated condition: everything, nothing, or a filter.
type cond struct {
	all, none bool
	d         bson.D
}

var (
	yes = cond{all: true}
	no  = cond{none: true}
)

// nothing matches no document, on MongoDB and on FerretDB alike.
func nothing() bson.D { return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}} }

func (c cond) bson() bson.D {
	switch {
	case c.all:
		return bson.D{}
	case c.none:
		return nothing()
	}
	return c.d
}

func and(cs ...cond) cond { return combine("$and", yes, no, cs) }
func or(cs ...cond) cond  { return combine("$or", no, yes, cs) }

// combine joins cs with op, where unit is op's neutral element and zero
// its absorbing one.
func combine(op string, unit, zero cond, cs []cond) cond {
	var args bson.A
	var last bson.D
	for _, c := range cs {
		switch {
		case c.all == unit.all && c.none == unit.none:
			continue
		case c.all == zero.all && c.none == zero.none:
			return zero
		}
		if len(c.d) == 1 && c.d[0].Key == op { // flatten
			args = append(args, c.d[0].Value.(bson.A)...)
		} else {
			args = append(args, c.d)
		}
		last = c.d
	}
	switch len(args) {
	case 0:
		return unit
	case 1:
		return cond{d: last}
	}
	return cond{d: bson.D{{Key: op, Value: args}}}
}

func not(c cond) cond {
	switch {
	case c.all:
		return no
	case c.none:
		return yes
	}
	return cond{d: bson.D{{Key: "$nor", Value: bson.A{c.d}}}}
}

// Translate turns a planner's filter into a MongoDB filter over the
// collection described by fields. exact is false when f holds an opaque
// condition or a field fields cannot express: filter then selects a
// superset of f (see authz.Filter.Superset) and every item it selects
// still needs a decision of its own.
func Translate(f *authz.Filter, fields Fields) (filter bson.D, exact bool, err error) {
	c, exact, err := translate(f, fields)
	if err != nil {
		return nil, false, err
	}
	return c.bson(), exact, nil
}

func translate(f *authz.Filter, fields Fields) (cond, bool, error) {
	c, exact, _, err := translateFull(f, fields)
	return c, exact, err
}

// translateFull is translate that also says whether an inexact filter is
// inexact only because of regular expressions left to Go.
func translateFull(f *authz.Filter, fields Fields) (c cond, exact, regexOnly bool, err error) {
	if f == nil {
		return cond{}, false, false, errors.New("pushdown: no filter")
	}
	t := translator{fields: fields, exact: true}
	c, err = t.node(f, true)
	return c, t.exact, t.regexOnly && f.Exact(), err
}

type translator struct {
	fields Fields
	exact  bool
	// regexOnly: the filter is inexact only because of regular
	// expressions the database may read differently (MongoRegex); Go
	// can still evaluate it on the policy's view of an item.
	regexOnly bool
}

// node translates f; positive is false under an odd number of negations,
// where a condition that cannot be expressed is bounded by false instead
// of true, so that the result stays a superset.
func (t *translator) node(f *authz.Filter, positive bool) (cond, error) {
	switch f.Op {
	case authz.FilterTrue:
		return yes, nil
	case authz.FilterFalse:
		return no, nil
	case authz.FilterAnd, authz.FilterOr:
		cs := make([]cond, len(f.Args))
		for i, a := range f.Args {
			c, err := t.node(a, positive)
			if err != nil {
				return cond{}, err
			}
			cs[i] = c
		}
		if f.Op == authz.FilterAnd {
			return and(cs...), nil
		}
		return or(cs...), nil
	case authz.FilterNot:
		if len(f.Args) != 1 {
			return cond{}, fmt.Errorf("pushdown: not with %d operands", len(f.Args))
		}
		c, err := t.node(f.Args[0], !positive)
		return not(c), err
	case authz.FilterOpaque:
		return t.bound(positive), nil
	case authz.FilterIn, authz.FilterRegex:
		if f.Op == authz.FilterRegex && len(f.Values) != 1 {
			return cond{}, fmt.Errorf("pushdown: regex on %s with %d patterns", f.Field, len(f.Values))
		}
		fld, ok := t.fields.Lookup(f.Field)
		if !ok {
			return t.bound(positive), nil
		}
		pattern := ""
		if f.Op == authz.FilterRegex {
			pattern = f.Values[0]
			if !f.Fold && len(fld.Docs) > 0 {
				// A rule's `matches`: handed to the database only
				// when it reads the pattern as Go does.
				if pattern, ok = MongoRegex(f.Values[0]); !ok {
					if _, err := newMatcher(f); err != nil {
						return cond{}, err
					}
					clean := t.exact || t.regexOnly
					c := t.bound(positive)
					t.regexOnly = clean
					return c, nil
				}
			}
		}
		return leaf(f, fld, pattern)
	}
	return cond{}, fmt.Errorf("pushdown: unknown filter operator %d", f.Op)
}

func (t *translator) bound(positive bool) cond {
	t.exact, t.regexOnly = false, false
	if positive {
		return yes
	}
	return no
}

// leaf translates an In or Regex condition on one stored field; pattern
// is the Regex's pattern as the database is to read it.
func leaf(f *authz.Filter, fld Field, pattern string) (cond, error) {
	m, err := newMatcher(f)
	if err != nil {
		return cond{}, err
	}
	if len(fld.Docs) == 0 {
		if slices.ContainsFunc(fld.Const, m) {
			return yes, nil
		}
		return no, nil
	}
	per := make([]cond, len(fld.Docs))
	for i, doc := range fld.Docs {
		per[i] = onDoc(f, pattern, fld.Kind, doc, m)
	}
	if fld.Shadow && len(per) > 1 {
		// The first field when it has a value, else the others.
		empty := cond{d: bson.D{{Key: fld.Docs[0] + ".0", Value: bson.D{{Key: "$exists", Value: false}}}}}
		return or(per[0], and(empty, or(per[1:]...))), nil
	}
	return or(per...), nil
}

func onDoc(f *authz.Filter, pattern string, kind Kind, doc string, m func(string) bool) cond {
	if kind == Bool {
		t, fa := m("true"), m("false")
		switch {
		case t && fa:
			return yes
		case t:
			return cond{d: bson.D{{Key: doc, Value: true}}}
		case fa:
			return cond{d: bson.D{{Key: doc, Value: bson.D{{Key: "$ne", Value: true}}}}}
		}
		return no
	}
	var c cond
	if f.Op == authz.FilterRegex {
		re := bson.D{{Key: "$regex", Value: pattern}}
		if f.Fold {
			re = append(re, bson.E{Key: "$options", Value: "i"})
		}
		c = cond{d: bson.D{{Key: doc, Value: re}}}
	} else {
		var exact, folded []string
		for _, v := range f.Values {
			if f.Fold && cased(v) {
				if !slices.ContainsFunc(folded, func(w string) bool { return strings.ToLower(w) == strings.ToLower(v) }) {
					folded = append(folded, v)
				}
			} else if !slices.Contains(exact, v) {
				exact = append(exact, v)
			}
		}
		var cs []cond
		switch len(exact) {
		case 0:
		case 1:
			cs = append(cs, cond{d: bson.D{{Key: doc, Value: exact[0]}}})
		default:
			cs = append(cs, cond{d: bson.D{{Key: doc, Value: bson.D{{Key: "$in", Value: exact}}}}})
		}
		for _, v := range folded {
			cs = append(cs, cond{d: bson.D{{Key: doc, Value: bson.D{
				{Key: "$regex", Value: "^" + regexp.QuoteMeta(v) + `\z`}, {Key: "$options", Value: "i"}}}}})
		}
		c = or(cs...)
	}
	if kind == String && m("") {
		// The policy sees "" where the document has nothing.
		c = or(c,
			cond{d: bson.D{{Key: doc, Value: bson.D{{Key: "$exists", Value: false}}}}},
			cond{d: bson.D{{Key: doc, Value: nil}}})
	}
	return c
}

// cased reports whether v has a rune with other cases (a value without one
// is compared exactly even when folding).
func cased(v string) bool {
	return strings.ContainsFunc(v, func(r rune) bool { return unicode.SimpleFold(r) != r })
}

// newMatcher evaluates an In or Regex condition on one value in Go, with
// the semantics of authz.Filter.Match.
func newMatcher(f *authz.Filter) (func(string) bool, error) {
	if f.Op == authz.FilterRegex {
		re, err := regexp.Compile(f.Values[0])
		if err != nil {
			return nil, fmt.Errorf("pushdown: filter on %s: %w", f.Field, err)
		}
		return func(v string) bool {
			if f.Fold {
				v = strings.ToLower(v)
			}
			return re.MatchString(v)
		}, nil
	}
	return func(v string) bool {
		return slices.ContainsFunc(f.Values, func(w string) bool {
			if f.Fold {
				return strings.ToLower(v) == strings.ToLower(w)
			}
			return v == w
		})
	}, nil
}
