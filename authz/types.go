package authz

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// The resource type registry: the platform's own types (policies/
// vocabulary.json, read-only) and the types other services define — a
// ticketing service's ticket with the actions view, edit and close and the
// attributes department and status. Decisions, the rule checker and
// compiler, the planner and the rule tools all read the registry in force,
// which the service replaces (Types.Set) when the stored types change.

// Attribute kinds of an external type.
const (
	KindString = "string"
	KindNumber = "number"
	KindBool   = "bool"
	KindList   = "list"
)

// ExternalType is a resource type another service defines.
type ExternalType struct {
	Name        string          `json:"name" bson:"_id"`
	Description string          `json:"description" bson:"description"`
	Actions     []TypeAction    `json:"actions" bson:"actions"`
	Attributes  []TypeAttribute `json:"attributes" bson:"attributes"`
	// LicenseGates: the platform's license gates (no_license,
	// license_excluded, capacity_exhausted, analyzer_license) apply to
	// decisions on this type too. Off by default: a ticket is not a use
	// of the analytics hub.
	LicenseGates bool `json:"licenseGates" bson:"licenseGates"`
}

// TypeAction is an action of an external type.
type TypeAction struct {
	Name        string `json:"name" bson:"name"`
	Description string `json:"description" bson:"description"`
}

// TypeAttribute is an attribute of an external type.
type TypeAttribute struct {
	Name        string `json:"name" bson:"name"`
	Kind        string `json:"kind" bson:"kind"`
	Description string `json:"description" bson:"description"`
}

// Limits of an external type.
const (
	MaxTypeNameLen      = 64
	MaxTypeActions      = 100
	MaxTypeAttributes   = 100
	MaxTypeDescription  = 1000
	MaxExternalTypes    = 500
	maxActionOrAttrName = 64
)

var (
	typeNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	memberPattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
)

// TypeError is a problem with an external type's definition or with a
// decision's type or action: Field names where (JSON path), Code the kind.
type TypeError struct {
	Code    string
	Field   string
	Message string
	// Known lists the names the caller could have used (types, or the
	// type's actions).
	Known []string
}

func (e *TypeError) Error() string { return e.Message }

func typeErr(code, field, format string, args ...any) *TypeError {
	return &TypeError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// BuiltinType is one of the platform's own types, listed read-only.
type BuiltinType struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Actions     []string `json:"actions"`
	Builtin     bool     `json:"builtin"`
}

// Types is the registry in force. It is safe for concurrent use; Set
// swaps the external types atomically.
type Types struct {
	builtin *Vocabulary
	base    *rules.Vocabulary
	cur     atomic.Pointer[typeSet]
}

type typeSet struct {
	ext   map[string]*ExternalType
	names []string // external names, sorted
	vocab *rules.Vocabulary
	all   []string // every type, sorted
}

// NewTypes builds a registry of the built-in types (v, from the policy
// data; base, the rule language's vocabulary of them) with no external type.
func NewTypes(v *Vocabulary, base *rules.Vocabulary) *Types {
	if base == nil {
		base = rules.DefaultVocabulary()
	}
	t := &Types{builtin: v, base: base}
	if err := t.Set(nil); err != nil {
		panic(err) // no external type cannot be invalid
	}
	return t
}

// Set puts exts in force (each checked with CheckType). On error nothing
// changes.
func (t *Types) Set(exts []ExternalType) error {
	next, err := t.build(exts)
	if err != nil {
		return err
	}
	t.cur.Store(next)
	return nil
}

// Vocabulary is the rule language's vocabulary with exts in place of the
// external types in force (nil: the ones in force): what a type write is
// checked against before it is stored.
func (t *Types) Vocabulary(exts []ExternalType) (*rules.Vocabulary, error) {
	if exts == nil {
		return t.cur.Load().vocab, nil
	}
	next, err := t.build(exts)
	if err != nil {
		return nil, err
	}
	return next.vocab, nil
}

func (t *Types) build(exts []ExternalType) (*typeSet, error) {
	s := &typeSet{ext: map[string]*ExternalType{}}
	v := *t.base
	v.ResourceTypes = slices.Clone(t.base.ResourceTypes)
	for i := range exts {
		e := exts[i]
		if err := t.CheckType(&e); err != nil {
			return nil, err
		}
		if s.ext[e.Name] != nil {
			return nil, typeErr("duplicate_type", "name", "resource type %q is defined twice", e.Name)
		}
		s.ext[e.Name] = &e
		s.names = append(s.names, e.Name)
		rt := rules.ResourceType{Name: e.Name, Description: e.Description, External: true}
		for _, a := range e.Actions {
			rt.Actions = append(rt.Actions, a.Name)
		}
		for _, a := range e.Attributes {
			rt.Attributes = append(rt.Attributes, rules.Attribute{Name: a.Name, Path: rules.ExternalAttributePath(a.Name)})
		}
		v.ResourceTypes = append(v.ResourceTypes, rt)
	}
	if err := v.Validate(); err != nil {
		return nil, typeErr("invalid_type", "", "%s", strings.TrimPrefix(err.Error(), "rules: "))
	}
	slices.Sort(s.names)
	s.vocab = &v
	s.all = append(slices.Sorted(maps.Keys(t.builtin.ResourceTypes)), s.names...)
	slices.Sort(s.all)
	return s, nil
}

// Builtin reports whether name is one of the platform's own types (or an
// alias the rule language accepts for one, in any case).
func (t *Types) Builtin(name string) bool {
	if _, ok := t.builtin.ResourceTypes[name]; ok {
		return true
	}
	for _, rt := range t.base.ResourceTypes {
		if strings.EqualFold(rt.Name, name) || slices.ContainsFunc(rt.Aliases, func(a string) bool { return strings.EqualFold(a, name) }) {
			return true
		}
	}
	return false
}

// CheckType checks an external type's definition (and normalises it:
// kinds lower case, nil lists empty).
func (t *Types) CheckType(e *ExternalType) error {
	switch {
	case e.Name == "":
		return typeErr("missing_name", "name", "a resource type needs a name")
	case len(e.Name) > MaxTypeNameLen || !typeNamePattern.MatchString(e.Name):
		return typeErr("bad_name", "name", "type name %q: lower-case letters, digits and -, starting with a letter, at most %d characters", e.Name, MaxTypeNameLen)
	case t.Builtin(e.Name):
		return typeErr("builtin_type", "name", "%q is a built-in resource type", e.Name)
	case len(e.Description) > MaxTypeDescription:
		return typeErr("too_long", "description", "the description has more than %d characters", MaxTypeDescription)
	case len(e.Actions) == 0:
		return typeErr("missing_actions", "actions", "a resource type needs at least one action, e.g. {\"name\": \"view\"}")
	case len(e.Actions) > MaxTypeActions:
		return typeErr("too_many_actions", "actions", "a resource type has at most %d actions", MaxTypeActions)
	case len(e.Attributes) > MaxTypeAttributes:
		return typeErr("too_many_attributes", "attributes", "a resource type has at most %d attributes", MaxTypeAttributes)
	}
	seen := map[string]bool{}
	for i, a := range e.Actions {
		f := fmt.Sprintf("actions[%d].name", i)
		name := strings.ToLower(a.Name)
		switch {
		case a.Name == "":
			return typeErr("missing_name", f, "the action needs a name")
		case len(a.Name) > maxActionOrAttrName || !memberPattern.MatchString(a.Name) || a.Name != name:
			return typeErr("bad_name", f, "action name %q: lower-case letters, digits, _ and -, starting with a letter", a.Name)
		case seen[name]:
			return typeErr("duplicate_action", f, "action %q is listed twice", a.Name)
		case len(a.Description) > MaxTypeDescription:
			return typeErr("too_long", fmt.Sprintf("actions[%d].description", i), "the description has more than %d characters", MaxTypeDescription)
		}
		seen[name] = true
	}
	seen = map[string]bool{}
	for i := range e.Attributes {
		a := &e.Attributes[i]
		f := fmt.Sprintf("attributes[%d]", i)
		name := strings.ToLower(a.Name)
		a.Kind = strings.ToLower(a.Kind)
		switch {
		case a.Name == "":
			return typeErr("missing_name", f+".name", "the attribute needs a name")
		case len(a.Name) > maxActionOrAttrName || !memberPattern.MatchString(a.Name):
			return typeErr("bad_name", f+".name", "attribute name %q: letters, digits, _ and -, starting with a letter", a.Name)
		case slices.Contains(reservedAttributes, name):
			return typeErr("reserved_attribute", f+".name", "%q is an attribute every resource has (%s)", a.Name, strings.Join(reservedAttributes, ", "))
		case seen[name]:
			return typeErr("duplicate_attribute", f+".name", "attribute %q is listed twice (names are case-insensitive)", a.Name)
		case a.Kind == "":
			a.Kind = KindString
		case !slices.Contains([]string{KindString, KindNumber, KindBool, KindList}, a.Kind):
			return typeErr("bad_kind", f+".kind", "kind %q: string, number, bool or list", a.Kind)
		}
		if len(a.Description) > MaxTypeDescription {
			return typeErr("too_long", f+".description", "the description has more than %d characters", MaxTypeDescription)
		}
		seen[name] = true
	}
	if e.Actions == nil {
		e.Actions = []TypeAction{}
	}
	if e.Attributes == nil {
		e.Attributes = []TypeAttribute{}
	}
	return nil
}

// reservedAttributes are the rule language's common attributes and
// navigations, which every resource has.
var reservedAttributes = []string{"id", "name", "owner", "resourcetype", "type", "space", "stream", "app", "ownerid"}

// External returns the external type name.
func (t *Types) External(name string) (ExternalType, bool) {
	e := t.cur.Load().ext[name]
	if e == nil {
		return ExternalType{}, false
	}
	return *e, true
}

// Externals lists the external types in force, by name.
func (t *Types) Externals() []ExternalType {
	s := t.cur.Load()
	out := make([]ExternalType, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, *s.ext[n])
	}
	return out
}

// Builtins lists the platform's own types with their actions (every
// built-in type takes the vocabulary's actions).
func (t *Types) Builtins() []BuiltinType {
	actions := t.builtin.ActionNames()
	out := make([]BuiltinType, 0, len(t.builtin.ResourceTypes))
	for _, n := range slices.Sorted(maps.Keys(t.builtin.ResourceTypes)) {
		out = append(out, BuiltinType{Name: n, Description: t.builtin.ResourceTypes[n], Actions: actions, Builtin: true})
	}
	return out
}

// RulesVocabulary is the rule language's vocabulary in force: the
// built-in types and the external ones.
func (t *Types) RulesVocabulary() *rules.Vocabulary { return t.cur.Load().vocab }

// KnownType reports whether typ is a built-in or external type.
func (t *Types) KnownType(typ string) bool {
	return t.builtin.KnownType(typ) || t.cur.Load().ext[typ] != nil
}

// KnownAction reports whether some type has action.
func (t *Types) KnownAction(action string) bool {
	if t.builtin.KnownAction(action) {
		return true
	}
	for _, e := range t.cur.Load().ext {
		if e.hasAction(action) {
			return true
		}
	}
	return false
}

func (e *ExternalType) hasAction(action string) bool {
	return slices.ContainsFunc(e.Actions, func(a TypeAction) bool { return a.Name == action })
}

// Actions lists the actions of typ (nil for an unknown type).
func (t *Types) Actions(typ string) []string {
	if t.builtin.KnownType(typ) {
		return t.builtin.ActionNames()
	}
	e := t.cur.Load().ext[typ]
	if e == nil {
		return nil
	}
	out := make([]string, 0, len(e.Actions))
	for _, a := range e.Actions {
		out = append(out, a.Name)
	}
	return out
}

// hasAction reports whether typ (a known type) has action.
func (t *Types) hasAction(typ, action string) bool {
	if t.builtin.KnownType(typ) {
		return t.builtin.KnownAction(action)
	}
	e := t.cur.Load().ext[typ]
	return e != nil && e.hasAction(action)
}

// Check validates a decision's resource type and action: an unknown type
// or an action the type does not have is a *TypeError naming what the
// registry has (the field is resource.type or action).
func (t *Types) Check(typ, action string) error {
	if !t.KnownType(typ) {
		all := t.cur.Load().all
		return &TypeError{Code: "unknown_resource_type", Field: "resource.type", Known: all,
			Message: fmt.Sprintf("unknown resource type %q; the registry has %s", typ, strings.Join(all, ", "))}
	}
	if t.hasAction(typ, action) {
		return nil // the path of every decision: no list built
	}
	if actions := slices.Sorted(slices.Values(t.Actions(typ))); !slices.Contains(actions, action) {
		return &TypeError{Code: "unknown_action", Field: "action", Known: actions,
			Message: fmt.Sprintf("unknown action %q for resource type %q; it has %s", action, typ, strings.Join(actions, ", "))}
	}
	return nil
}

// Gated reports whether the platform's license gates apply to decisions
// on typ: every built-in type, and external types that ask for them.
func (t *Types) Gated(typ string) bool {
	if e := t.cur.Load().ext[typ]; e != nil {
		return e.LicenseGates
	}
	return true
}

// TypesDataRoot is where the engine puts the registry's policy data:
// {"ungated": {"<external type>": true}} for the external types that do
// not take the license gates (policies/gates.rego).
const TypesDataRoot = "rulekeeper_types"

func (t *Types) policyData() map[string]any {
	ungated := map[string]any{}
	for name, e := range t.cur.Load().ext {
		if !e.LicenseGates {
			ungated[name] = true
		}
	}
	return map[string]any{"ungated": ungated}
}
