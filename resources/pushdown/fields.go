package pushdown

import "strings"

// Kind is how a document field holds the resource field's values.
type Kind uint8

// The kinds of field.
const (
	// String: one string. The policy's view always has it ("" when the
	// document lacks it), so a condition that holds for "" also selects
	// documents without the field.
	String Kind = iota
	// Bool: a boolean, seen by the policy as "true" or "false" (a missing
	// one is false).
	Bool
	// Strings: a list of strings; a missing field has no values.
	Strings
)

// Field says where the values of one resource field are stored.
type Field struct {
	// Docs are the document fields whose values, together, are the
	// resource field's values. None: the field has the values Const for
	// every document.
	Docs []string
	Kind Kind
	// Shadow: the first of Docs, when it holds any value, hides the
	// others (an app's tags replace its attributes.tags). Strings only.
	Shadow bool
	// Const are the values of a field without Docs (none: the field has
	// no values in the policy's view of any document).
	Const []string
}

// Fields maps the policy's resource fields (the JSON names of
// authz.Resource, dotted) to a collection's document fields. A key
// "prefix.*" maps every "prefix.<name>" that has no key of its own; a "*"
// in its Docs stands for <name>. A field that is not in the map cannot be
// expressed over the collection.
type Fields map[string]Field

// Lookup returns where field is stored; false when it cannot be expressed.
func (fs Fields) Lookup(field string) (Field, bool) {
	if f, ok := fs[field]; ok {
		return f, true
	}
	for i := strings.LastIndexByte(field, '.'); i > 0; i = strings.LastIndexByte(field[:i], '.') {
		rule, ok := fs[field[:i]+".*"]
		if !ok {
			continue
		}
		rest := field[i+1:]
		switch {
		case rest == "" || strings.ContainsAny(rest, "$\x00"):
			return Field{}, false
		case strings.Contains(rest, "."):
			// Under a prefix rule the policy's view holds lists of
			// strings: a dotted rest reaches nothing.
			return Field{Kind: rule.Kind}, true
		}
		out := Field{Kind: rule.Kind, Shadow: rule.Shadow, Const: rule.Const}
		for _, d := range rule.Docs {
			out.Docs = append(out.Docs, strings.ReplaceAll(d, "*", rest))
		}
		return out, true
	}
	return Field{}, false
}

// constants are the fields the policy's view (authz.Input) always holds,
// with the values they have when the resource builder leaves them empty.
func constants(typ string) Fields {
	empty := Field{Const: []string{""}}
	no := Field{Kind: Bool, Const: []string{"false"}}
	return Fields{
		"type": {Const: []string{typ}}, "id": empty, "name": empty, "owner": empty,
		"spaceId": empty, "spaceType": empty, "objectType": empty,
		"public": no, "sectionAccess": no, "targetSpaceId": empty, "targetSpaceType": empty,
		"attributes.*": {Kind: Strings}, // no attributes
		"app.*":        {},              // no related app
		"space.*":      {},              // no related space
	}
}

func with(base Fields, over Fields) Fields {
	for k, v := range over {
		base[k] = v
	}
	return base
}

// unmappable removes fields whose values live in another collection.
func unmappable(fs Fields, names ...string) Fields {
	for _, n := range names {
		delete(fs, n)
	}
	return fs
}

// AppFields maps the policy's view of an app (resources/entities App) to
// the apps collection. Its space's type and fields live in the spaces
// collection and cannot be expressed.
func AppFields() Fields {
	return with(unmappable(constants("app"), "spaceType", "space.*"), Fields{
		"id":              {Docs: []string{"_id"}},
		"name":            {Docs: []string{"name"}},
		"owner":           {Docs: []string{"ownerId"}},
		"spaceId":         {Docs: []string{"spaceId"}},
		"sectionAccess":   {Docs: []string{"sectionAccess"}, Kind: Bool},
		"attributes.*":    {Docs: []string{"attributes.*"}, Kind: Strings},
		"attributes.tags": {Docs: []string{"tags", "attributes.tags"}, Kind: Strings, Shadow: true},
	})
}

// ExternalFields maps the policy's view of a stored resource of the
// external type typ (entities.ExternalResource): its attributes are the
// document's values, lists of strings as the policy sees them.
func ExternalFields(typ string) Fields {
	return with(unmappable(constants(typ), "spaceType", "space.*"), Fields{
		"id":           {Docs: []string{"id"}},
		"name":         {Docs: []string{"name"}},
		"owner":        {Docs: []string{"owner"}},
		"spaceId":      {Docs: []string{"spaceId"}},
		"attributes.*": {Docs: []string{"values.*"}, Kind: Strings},
	})
}

// SpaceFields maps the policy's view of a space (entities.SpaceResource):
// the space is its own spaceId and its own related space.
func SpaceFields() Fields {
	return with(constants("space"), Fields{
		"id":            {Docs: []string{"_id"}},
		"name":          {Docs: []string{"name"}},
		"owner":         {Docs: []string{"ownerId"}},
		"spaceId":       {Docs: []string{"_id"}},
		"spaceType":     {Docs: []string{"type"}},
		"space.id":      {Docs: []string{"_id"}},
		"space.name":    {Docs: []string{"name"}},
		"space.type":    {Docs: []string{"type"}},
		"space.owner":   {Docs: []string{"ownerId"}},
		"space.spaceId": {Const: []string{""}},
		"space.*":       {}, // nothing else in a related space
	})
}

// BundleFields maps the policy's view of an extension or theme (typ
// "extension" or "theme"; entities.Source.Resource): its creator is its
// owner and its tags its only attribute.
func BundleFields(typ string) Fields {
	return with(constants(typ), Fields{
		"id":              {Docs: []string{"_id"}},
		"name":            {Docs: []string{"name"}},
		"owner":           {Docs: []string{"createdBy"}},
		"attributes.tags": {Docs: []string{"tags"}, Kind: Strings},
	})
}

// ObjectFields maps the policy's view of an app object (entities
// AppObject) to the objects collection. Its space and the rest of its app
// live in other collections and cannot be expressed.
func ObjectFields() Fields {
	return with(unmappable(constants("app.object"), "spaceId", "spaceType", "space.*", "app.*"), Fields{
		"id":         {Docs: []string{"_id"}},
		"name":       {Docs: []string{"name"}},
		"owner":      {Docs: []string{"ownerId"}},
		"objectType": {Docs: []string{"type"}},
		"public":     {Docs: []string{"public"}, Kind: Bool},
		"app.id":     {Docs: []string{"appId"}},
		"app.type":   {Const: []string{""}},
	})
}
