package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A PatchOp (RFC 7644 §3.5.2) is applied to a User by editing the User's
// SCIM representation and replacing the user with the result, so every
// attribute the representation carries can be patched the same way.

// op is one operation of a PatchOp.
type op struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// patchOps reads a PatchOp body; op names are case-insensitive (some
// clients send "Replace").
func patchOps(body []byte) ([]op, error) {
	var p struct {
		Schemas    []string `json:"schemas"`
		Operations []op     `json:"Operations"`
	}
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	if !slices.Contains(p.Schemas, PatchSchema) {
		return nil, bad("invalidValue", "a PatchOp names the schema %s", PatchSchema)
	}
	if len(p.Operations) == 0 {
		return nil, bad("invalidValue", "a PatchOp holds at least one operation")
	}
	for i := range p.Operations {
		o := &p.Operations[i]
		o.Op = strings.ToLower(o.Op)
		switch o.Op {
		case "add", "replace":
			if len(o.Value) == 0 {
				return nil, bad("invalidValue", "Operations[%d]: %s needs a value", i, o.Op)
			}
		case "remove":
			if o.Path == "" {
				return nil, bad("noTarget", "Operations[%d]: remove needs a path", i)
			}
		default:
			return nil, bad("invalidValue", "Operations[%d]: op is add, replace or remove, not %q", i, o.Op)
		}
	}
	return p.Operations, nil
}

// pathError is a patch error with its scimType.
type pathError struct {
	scimType, msg string
}

func (e *pathError) Error() string { return e.msg }

func perr(scimType, format string, args ...any) error {
	return &pathError{scimType: scimType, msg: fmt.Sprintf(format, args...)}
}

func scimTypeOf(err error) string {
	var pe *pathError
	if errors.As(err, &pe) {
		return pe.scimType
	}
	return "invalidValue"
}

// parsePath splits `attr`, `attr.sub`, `attr[x eq "v"]` and
// `attr[x eq "v"].sub` (after any schema URN prefix was taken off).
func parsePath(p string) (attr string, sel *filter, sub string, err error) {
	if p == "" {
		return "", nil, "", nil
	}
	if i := strings.IndexByte(p, '['); i >= 0 {
		j := strings.IndexByte(p, ']')
		if j < i {
			return "", nil, "", perr("invalidPath", "unbalanced [ in %q", p)
		}
		f, ferr := parseFilter(p[i+1:j], anyAttr(p[i+1:j]))
		if ferr != nil {
			return "", nil, "", perr("invalidFilter", "the value filter of %q is not of the form attribute eq \"value\"", p)
		}
		attr, sel = p[:i], f
		sub = strings.TrimPrefix(p[j+1:], ".")
		return attr, sel, sub, nil
	}
	attr, sub, _ = strings.Cut(p, ".")
	return attr, nil, sub, nil
}

// anyAttr is the attribute name a value filter compares.
func anyAttr(f string) string {
	a, _, _ := strings.Cut(strings.TrimSpace(f), " ")
	return a
}

// container finds where a path points: the resource itself, or one of its
// schema extensions, and the rest of the path.
func container(res map[string]any, path string) (map[string]any, string) {
	for _, urn := range []string{EnterpriseSchema, RulekeeperSchema, UserSchema, GroupSchema} {
		if len(path) > len(urn) && strings.EqualFold(path[:len(urn)+1], urn+":") {
			rest := path[len(urn)+1:]
			if urn == UserSchema || urn == GroupSchema {
				return res, rest
			}
			m, _ := res[urn].(map[string]any)
			if m == nil {
				m = map[string]any{}
				res[urn] = m
			}
			return m, rest
		}
	}
	return res, path
}

// key finds name among m's keys, case-insensitively (RFC 7643 §2.1).
func key(m map[string]any, name string) string {
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// apply applies one operation to the resource representation res.
func apply(res map[string]any, o op) error {
	var value any
	if len(o.Value) > 0 {
		if err := json.Unmarshal(o.Value, &value); err != nil {
			return perr("invalidSyntax", "the value is not JSON")
		}
	}
	if o.Path == "" {
		obj, ok := value.(map[string]any)
		if !ok {
			return perr("invalidValue", "without a path the value is an object of attributes")
		}
		for k, v := range obj {
			sub, isMap := v.(map[string]any)
			if strings.HasPrefix(strings.ToLower(k), "urn:") && isMap && !strings.EqualFold(k, UserSchema) {
				ext, _ := res[key(res, k)].(map[string]any)
				if ext == nil {
					ext = map[string]any{}
				}
				for sk, sv := range sub {
					ext[key(ext, sk)] = sv
				}
				res[key(res, k)] = ext
				continue
			}
			// Some clients send "name.givenName" or URN paths as keys.
			if err := apply(res, op{Op: o.Op, Path: k, Value: mustJSON(v)}); err != nil {
				return err
			}
		}
		normalize(res)
		return nil
	}
	m, path := container(res, o.Path)
	attr, sel, sub, err := parsePath(path)
	if err != nil {
		return err
	}
	k := key(m, attr)
	switch {
	case sel == nil && sub == "":
		switch {
		case o.Op == "remove":
			delete(m, k)
		case o.Op == "add":
			if list, ok := m[k].([]any); ok {
				add, isList := value.([]any)
				if !isList {
					add = []any{value}
				}
				m[k] = append(list, add...)
			} else {
				m[k] = value
			}
		default:
			m[k] = value
		}
	case sel == nil:
		inner, _ := m[k].(map[string]any)
		if inner == nil {
			if o.Op == "remove" {
				return nil
			}
			inner = map[string]any{}
			m[k] = inner
		}
		if o.Op == "remove" {
			delete(inner, key(inner, sub))
		} else {
			inner[key(inner, sub)] = value
		}
	default:
		list, _ := m[k].([]any)
		matched := false
		out := list[:0:0]
		for _, el := range list {
			em, ok := el.(map[string]any)
			if !ok || fmt.Sprint(em[key(em, sel.attr)]) != sel.value {
				out = append(out, el)
				continue
			}
			matched = true
			switch {
			case o.Op == "remove" && sub == "":
				continue // dropped
			case o.Op == "remove":
				delete(em, key(em, sub))
			case sub != "":
				em[key(em, sub)] = value
			default:
				if vm, ok := value.(map[string]any); ok {
					for vk, vv := range vm {
						em[key(em, vk)] = vv
					}
				}
			}
			out = append(out, em)
		}
		if !matched && o.Op != "remove" {
			// emails[type eq "work"].value on a user without one adds it.
			el := map[string]any{sel.attr: sel.value}
			if sub != "" {
				el[sub] = value
			} else if vm, ok := value.(map[string]any); ok {
				for vk, vv := range vm {
					el[vk] = vv
				}
			}
			if strings.EqualFold(attr, "emails") {
				el["primary"] = true
			}
			out = append(out, el)
		}
		m[k] = out
	}
	normalize(res)
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// normalize fixes what clients send loosely: "active": "False".
func normalize(res map[string]any) {
	if s, ok := res["active"].(string); ok {
		if b, err := strconv.ParseBool(strings.ToLower(s)); err == nil {
			res["active"] = b
		}
	}
}
