package authz

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Compile prepares f for evaluation on many resources: regular
// expressions compiled once, fields read from the Resource struct without
// building the policy's input value. It answers what Match answers (a
// test checks both on random resources and filters); an opaque condition
// is an error.
func (f *Filter) Compile() (func(*Resource) bool, error) {
	switch f.Op {
	case FilterTrue:
		return func(*Resource) bool { return true }, nil
	case FilterFalse:
		return func(*Resource) bool { return false }, nil
	case FilterAnd, FilterOr:
		parts := make([]func(*Resource) bool, len(f.Args))
		for i, a := range f.Args {
			p, err := a.Compile()
			if err != nil {
				return nil, err
			}
			parts[i] = p
		}
		if f.Op == FilterAnd {
			return func(r *Resource) bool {
				for _, p := range parts {
					if !p(r) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(r *Resource) bool {
			for _, p := range parts {
				if p(r) {
					return true
				}
			}
			return false
		}, nil
	case FilterNot:
		p, err := f.Args[0].Compile()
		if err != nil {
			return nil, err
		}
		return func(r *Resource) bool { return !p(r) }, nil
	case FilterIn:
		path := strings.Split(f.Field, ".")
		want := f.Values
		if f.Fold {
			want = make([]string, len(f.Values))
			for i, v := range f.Values {
				want[i] = strings.ToLower(v)
			}
		}
		return someValue(path, f.Fold, func(v string) bool { return slices.Contains(want, v) }), nil
	case FilterRegex:
		re, err := regexp.Compile(f.Values[0])
		if err != nil {
			return nil, fmt.Errorf("authz: filter on %s: %w", f.Field, err)
		}
		return someValue(strings.Split(f.Field, "."), f.Fold, re.MatchString), nil
	case FilterOpaque:
		return nil, fmt.Errorf("authz: the filter holds a condition that cannot be evaluated (%s)", f.Reason)
	}
	return nil, fmt.Errorf("authz: unknown filter operator %d", f.Op)
}

// someValue holds when one of the field's values (lower-cased when fold)
// passes test.
func someValue(path []string, fold bool, test func(string) bool) func(*Resource) bool {
	return func(r *Resource) bool {
		return slices.ContainsFunc(fieldValues(r, path), func(v string) bool {
			if fold {
				v = strings.ToLower(v)
			}
			return test(v)
		})
	}
}

// fieldValues reads a field of r as values() reads it from the policy's
// input value (Input.value): every string field is present (possibly
// ""), booleans are their text, attributes are lists, space and app exist
// only when set.
func fieldValues(r *Resource, path []string) []string {
	one := func(s string) []string { return []string{s} }
	switch len(path) {
	case 1:
		switch path[0] {
		case "type":
			return one(r.Type)
		case "id":
			return one(r.ID)
		case "name":
			return one(r.Name)
		case "owner":
			return one(r.Owner)
		case "spaceId":
			return one(r.SpaceID)
		case "spaceType":
			return one(r.SpaceType)
		case "objectType":
			return one(r.ObjectType)
		case "public":
			return one(strconv.FormatBool(r.Public))
		case "sectionAccess":
			return one(strconv.FormatBool(r.SectionAccess))
		case "targetSpaceId":
			return one(r.TargetSpaceID)
		case "targetSpaceType":
			return one(r.TargetSpaceType)
		}
	case 2:
		switch path[0] {
		case "attributes":
			return r.Attributes[path[1]]
		case "space", "app":
			rel := r.Space
			if path[0] == "app" {
				rel = r.App
			}
			if rel == nil {
				return nil
			}
			switch path[1] {
			case "id":
				return one(rel.ID)
			case "name":
				return one(rel.Name)
			case "type":
				return one(rel.Type)
			case "owner":
				return one(rel.Owner)
			case "spaceId":
				return one(rel.SpaceID)
			}
		}
	}
	return nil
}
