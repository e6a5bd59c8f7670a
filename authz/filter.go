package authz

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// FilterOp is the operator of a Filter node.
type FilterOp uint8

// The operators of a Filter.
const (
	// FilterFalse selects nothing, FilterTrue everything.
	FilterFalse FilterOp = iota
	FilterTrue
	// FilterAnd and FilterOr combine Args; FilterNot negates Args[0].
	FilterAnd
	FilterOr
	FilterNot
	// FilterIn: one of the field's values (a string is one value, a list
	// several, booleans their text "true"/"false") equals one of Values;
	// with Fold, compared case-insensitively.
	FilterIn
	// FilterRegex: one of the field's values matches the RE2 pattern
	// Values[0] (anchored by the pattern itself); with Fold the value is
	// lower-cased first and the pattern is written in lower case.
	FilterRegex
	// FilterOpaque is a condition the planner could not express over
	// stored fields (Reason says which); a plan holding one is not exact.
	FilterOpaque
)

// Filter is a condition on the policy's view of a resource (the fields of
// Resource by their JSON names, dotted: "name", "owner", "spaceId",
// "sectionAccess", "attributes.tag", "space.name"): the residual of a read
// decision asked with the resource unknown. It is neutral — no database in
// it — and resources/pushdown translates it into a MongoDB filter.
type Filter struct {
	Op     FilterOp  `json:"op"`
	Field  string    `json:"field,omitempty"`
	Values []string  `json:"values,omitempty"`
	Fold   bool      `json:"fold,omitempty"`
	Args   []*Filter `json:"args,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// Constructors that simplify as they build: Everything and Nothing absorb, nested
// operators of the same kind flatten.

// Everything selects every resource.
func Everything() *Filter { return &Filter{Op: FilterTrue} }

// Nothing selects no resource.
func Nothing() *Filter { return &Filter{Op: FilterFalse} }

// Eq selects resources whose field has one of values (case-sensitive).
func Eq(field string, values ...string) *Filter {
	if len(values) == 0 {
		return Nothing()
	}
	return &Filter{Op: FilterIn, Field: field, Values: values}
}

// EqFold is Eq compared case-insensitively.
func EqFold(field string, values ...string) *Filter {
	f := Eq(field, values...)
	if f.Op == FilterIn {
		f.Fold = true
	}
	return f
}

// Regex selects resources whose field matches pattern.
func Regex(field, pattern string, fold bool) *Filter {
	return &Filter{Op: FilterRegex, Field: field, Values: []string{pattern}, Fold: fold}
}

// Opaque stands for a condition that could not be expressed.
func Opaque(reason string) *Filter { return &Filter{Op: FilterOpaque, Reason: reason} }

// And is the conjunction of fs.
func And(fs ...*Filter) *Filter {
	out := &Filter{Op: FilterAnd}
	for _, f := range fs {
		switch f.Op {
		case FilterTrue:
			continue
		case FilterFalse:
			return Nothing()
		case FilterAnd:
			out.Args = append(out.Args, f.Args...)
		default:
			out.Args = append(out.Args, f)
		}
	}
	switch len(out.Args) {
	case 0:
		return Everything()
	case 1:
		return out.Args[0]
	}
	return out
}

// Or is the disjunction of fs.
func Or(fs ...*Filter) *Filter {
	out := &Filter{Op: FilterOr}
	for _, f := range fs {
		switch f.Op {
		case FilterFalse:
			continue
		case FilterTrue:
			return Everything()
		case FilterOr:
			out.Args = append(out.Args, f.Args...)
		default:
			out.Args = append(out.Args, f)
		}
	}
	switch len(out.Args) {
	case 0:
		return Nothing()
	case 1:
		return out.Args[0]
	}
	return out
}

// Not is the negation of f.
func Not(f *Filter) *Filter {
	switch f.Op {
	case FilterTrue:
		return Nothing()
	case FilterFalse:
		return Everything()
	case FilterNot:
		return f.Args[0]
	}
	return &Filter{Op: FilterNot, Args: []*Filter{f}}
}

// Exact reports whether f holds no opaque condition.
func (f *Filter) Exact() bool {
	if f.Op == FilterOpaque {
		return false
	}
	for _, a := range f.Args {
		if !a.Exact() {
			return false
		}
	}
	return true
}

// Superset replaces every opaque condition so that the result selects at
// least what f selects whatever the opaque conditions are: true where it
// counts positively, false under a negation. Items it selects still need a
// decision each when f was not exact.
func (f *Filter) Superset() *Filter { return f.bound(true) }

func (f *Filter) bound(positive bool) *Filter {
	switch f.Op {
	case FilterOpaque:
		if positive {
			return Everything()
		}
		return Nothing()
	case FilterAnd:
		args := make([]*Filter, len(f.Args))
		for i, a := range f.Args {
			args[i] = a.bound(positive)
		}
		return And(args...)
	case FilterOr:
		args := make([]*Filter, len(f.Args))
		for i, a := range f.Args {
			args[i] = a.bound(positive)
		}
		return Or(args...)
	case FilterNot:
		return Not(f.Args[0].bound(!positive))
	}
	return f
}

// Fields lists the fields f reads, sorted, without repeats.
func (f *Filter) Fields() []string {
	var out []string
	var walk func(*Filter)
	walk = func(f *Filter) {
		if f.Field != "" {
			out = append(out, f.Field)
		}
		for _, a := range f.Args {
			walk(a)
		}
	}
	walk(f)
	slices.Sort(out)
	return slices.Compact(out)
}

// Match evaluates f on a resource in Go, with the semantics the policy
// gives the fields (Values). An opaque condition is an error: only an exact
// filter can be evaluated.
func (f *Filter) Match(r *Resource) (bool, error) {
	t := ResourceTarget(r)
	return f.match(t)
}

func (f *Filter) match(t *Target) (bool, error) {
	switch f.Op {
	case FilterTrue:
		return true, nil
	case FilterFalse:
		return false, nil
	case FilterAnd:
		for _, a := range f.Args {
			ok, err := a.match(t)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case FilterOr:
		for _, a := range f.Args {
			ok, err := a.match(t)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case FilterNot:
		ok, err := f.Args[0].match(t)
		return !ok, err
	case FilterIn:
		vals := values(t.obj, strings.Split(f.Field, "."))
		return slices.ContainsFunc(vals, func(v string) bool {
			return slices.ContainsFunc(f.Values, func(w string) bool {
				if f.Fold {
					return strings.ToLower(v) == strings.ToLower(w)
				}
				return v == w
			})
		}), nil
	case FilterRegex:
		re, err := regexp.Compile(f.Values[0])
		if err != nil {
			return false, fmt.Errorf("authz: filter on %s: %w", f.Field, err)
		}
		vals := values(t.obj, strings.Split(f.Field, "."))
		return slices.ContainsFunc(vals, func(v string) bool {
			if f.Fold {
				v = strings.ToLower(v)
			}
			return re.MatchString(v)
		}), nil
	case FilterOpaque:
		return false, fmt.Errorf("authz: the filter holds a condition that cannot be evaluated (%s)", f.Reason)
	}
	return false, fmt.Errorf("authz: unknown filter operator %d", f.Op)
}

// String renders f for logs and tests.
func (f *Filter) String() string {
	switch f.Op {
	case FilterTrue:
		return "true"
	case FilterFalse:
		return "false"
	case FilterAnd, FilterOr:
		sep := " and "
		if f.Op == FilterOr {
			sep = " or "
		}
		parts := make([]string, len(f.Args))
		for i, a := range f.Args {
			parts[i] = a.String()
		}
		return "(" + strings.Join(parts, sep) + ")"
	case FilterNot:
		return "not " + f.Args[0].String()
	case FilterIn:
		op := "in"
		if f.Fold {
			op = "in~"
		}
		return fmt.Sprintf("%s %s %q", f.Field, op, f.Values)
	case FilterRegex:
		op := "=~"
		if f.Fold {
			op = "=~i"
		}
		return fmt.Sprintf("%s %s %q", f.Field, op, f.Values[0])
	case FilterOpaque:
		return "opaque(" + f.Reason + ")"
	}
	return "?"
}
