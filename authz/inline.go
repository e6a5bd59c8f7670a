package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Inline resources. A caller may describe a decision's resource in the
// request (AuthZEN resource.properties, /authz/check resource.properties):
//
//	{"type": "ticket", "id": "T-17", "properties": {"ownerID": "bob",
//	 "department": "Support", "tags": ["vip", "sla"], "priority": 2}}
//
// Every property that is not one of the resource's own fields (name,
// owner, spaceId, ... as in Resource's JSON) is an attribute: any JSON
// scalar or list of scalars, seen by the rules as resource.<attr> (for an
// external type that declares it) and resource.@<attr>, as a list of
// strings (numbers and booleans as their JSON text). ownerID, ownerId
// and owner name the owner; attributes may also be nested under
// "attributes". For an external type a declared attribute must have its
// kind (a number for number, true/false for bool). Stored attributes of
// the same resource are overridden one by one (Engine hydration).

// ownerKeys are the property names of the owner.
var ownerKeys = []string{"owner", "ownerID", "ownerId", "ownerid", "owner_id"}

// resourceFields are Resource's own JSON fields (besides owner and attributes).
var resourceFields = []string{"name", "spaceId", "spaceType", "objectType", "public", "sectionAccess",
	"targetSpaceId", "targetSpaceType", "space", "app"}

// ApplyProperties reads the caller's properties (a JSON object) into r,
// whose Type is set. field names the properties in errors
// ("resource.properties"). Errors are *TypeError.
func (t *Types) ApplyProperties(r *Resource, raw json.RawMessage, field string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var props map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&props); err != nil || props == nil {
		return typeErr("wrong_type", field, "%s is a JSON object", field)
	}
	ext, external := t.External(r.Type)
	own := map[string]any{}
	for k, v := range props {
		f := field + "." + k
		switch {
		case k == "type" || k == "id":
			// The resource's own type and id come from the request.
		case slices.Contains(ownerKeys, k):
			s, ok := v.(string)
			if !ok {
				return typeErr("wrong_type", f, "%s is the owner's user id, a string", f)
			}
			r.Owner = s
		case k == "attributes":
			m, ok := v.(map[string]any)
			if !ok {
				return typeErr("wrong_type", f, "%s is an object of attributes", f)
			}
			for name, av := range m {
				if err := setAttribute(r, ext, external, name, av, f+"."+name); err != nil {
					return err
				}
			}
		case slices.Contains(resourceFields, k):
			own[k] = v
		default:
			if err := setAttribute(r, ext, external, k, v, f); err != nil {
				return err
			}
		}
	}
	if len(own) > 0 {
		b, _ := json.Marshal(own)
		if err := json.Unmarshal(b, r); err != nil {
			return typeErr("wrong_type", field, "%s has a field of the wrong type: %v", field, err)
		}
	}
	return nil
}

// setAttribute puts one attribute value into r.Attributes under the name
// the type declares (matched case-insensitively) or, undeclared, as sent.
func setAttribute(r *Resource, ext ExternalType, external bool, name string, v any, field string) error {
	if name == "" {
		return typeErr("bad_attribute", field, "an attribute needs a name")
	}
	if external {
		if a := ext.attribute(name); a != nil {
			if err := CheckKind(a.Kind, v); err != nil {
				return typeErr("wrong_kind", field, "%s: %v", field, err)
			}
			name = a.Name
		}
	}
	vals, err := AttributeValues(v)
	if err != nil {
		return typeErr("wrong_type", field, "%s: %v", field, err)
	}
	if r.Attributes == nil {
		r.Attributes = map[string][]string{}
	}
	r.Attributes[name] = vals
	return nil
}

func (e *ExternalType) attribute(name string) *TypeAttribute {
	for i := range e.Attributes {
		if strings.EqualFold(e.Attributes[i].Name, name) {
			return &e.Attributes[i]
		}
	}
	return nil
}

// AttributeValues is the policy's view of a JSON attribute value (as
// decoded by encoding/json, with or without UseNumber): a string is one
// value, a number or boolean its JSON text, a list its items' values,
// null none. Objects and nested lists are refused.
func AttributeValues(v any) ([]string, error) {
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for i, item := range list {
			s, ok, err := jsonScalar(item)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			if ok {
				out = append(out, s)
			}
		}
		return out, nil
	}
	s, ok, err := jsonScalar(v)
	if err != nil || !ok {
		return []string{}, err
	}
	return []string{s}, nil
}

func jsonScalar(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case bool:
		if x {
			return "true", true, nil
		}
		return "false", true, nil
	case json.Number:
		return x.String(), true, nil
	case float64, int, int64, int32:
		b, _ := json.Marshal(x)
		return string(b), true, nil
	}
	return "", false, fmt.Errorf("a value is a string, number, boolean or a list of those, not %s", jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list of lists"
	}
	return fmt.Sprintf("%T", v)
}

// CheckKind reports whether v is a value of an attribute of kind: a
// string for string (numbers and booleans are accepted as their text), a
// number for number, true or false for bool, a list or a single value for
// list; null is always accepted (no value).
func CheckKind(kind string, v any) error {
	if v == nil {
		return nil
	}
	switch kind {
	case KindNumber:
		switch v.(type) {
		case json.Number, float64, int, int64:
			return nil
		}
		return fmt.Errorf("the attribute is a number")
	case KindBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("the attribute is true or false")
		}
	case KindList:
		return nil
	default:
		if _, ok := v.([]any); ok {
			return fmt.Errorf("the attribute is one value, not a list (declare its kind list)")
		}
	}
	return nil
}
