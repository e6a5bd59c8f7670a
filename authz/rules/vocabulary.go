package rules

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Attribute is a readable attribute of the user, of a resource or of a
// navigated object. Names and aliases match case-insensitively; Path is
// where the value lives below the owning object of the decision input
// (input.subject, input.resource, or the navigation's field). A value may
// be a string, a boolean, a number or an array of those: comparisons treat
// every value uniformly as a list of strings.
type Attribute struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	Path    []string `json:"path"`
}

// Navigation is a related object reached from a resource, such as
// resource.space (QMC: resource.stream) or resource.app. Its attributes
// are read at input.resource.<Field>.<attribute path>; the bare navigation
// (resource.space) is the related object's id (<Field>.id).
//
// For HasPrivilege the related object is turned into a resource of Type:
// the Carry fields of the current resource, overlaid with the navigation
// object, overlaid with Copy (navigation field → resource field, e.g. the
// space's "type" becomes "spaceType"), with "type" set to Type.
type Navigation struct {
	Name       string            `json:"name"`
	Aliases    []string          `json:"aliases,omitempty"`
	Type       string            `json:"type"`
	Field      string            `json:"field"`
	Attributes []Attribute       `json:"attributes"`
	Copy       map[string]string `json:"copy,omitempty"`
	Carry      []string          `json:"carry,omitempty"`
}

// ResourceType is a known resource type. Name is the API name (lower
// case, as in input.resource.type); Aliases are other accepted spellings
// in resource filters, notably QMC names (Stream for space). Attributes
// are the type's own, besides the vocabulary's CommonAttributes.
// Navigations names the navigations the type supports, and Related the
// one resource.HasPrivilege(...) evaluates against ("" for none).
//
// An External type is one another service defines in the type registry
// (GET /api/v1/types): it grants only its own Actions (not the
// vocabulary's), has no navigations, and each of its Attributes is read at
// input.resource.attributes.<name>, so resource.<attr> and resource.@<attr>
// are the same value. Its attribute names may repeat a built-in type's
// attribute with another path (a ticket's status is not a user's): a rule
// selecting both reads neither (the checker says so).
type ResourceType struct {
	Name        string      `json:"name"`
	Aliases     []string    `json:"aliases,omitempty"`
	Description string      `json:"description,omitempty"`
	Attributes  []Attribute `json:"attributes,omitempty"`
	Navigations []string    `json:"navigations,omitempty"`
	Related     string      `json:"related,omitempty"`
	External    bool        `json:"external,omitempty"`
	Actions     []string    `json:"actions,omitempty"`
}

// Vocabulary is what the checker and the compiler know about resource
// types, attributes and actions. DefaultVocabulary describes rulekeeper's
// own types; a service loads policies/vocabulary.json instead when
// available. An attribute name must map to the same path in every type
// that declares it (generated code reads it the same way for all types).
type Vocabulary struct {
	ResourceTypes    []ResourceType `json:"resourceTypes"`
	CommonAttributes []Attribute    `json:"commonAttributes"`
	Navigations      []Navigation   `json:"navigations"`
	UserAttributes   []Attribute    `json:"userAttributes"`
	Actions          []string       `json:"actions"`
}

// DefaultVocabulary is built from API.md's Vocabulary section and the
// decision input of policies/CONTRACT.md.
func DefaultVocabulary() *Vocabulary {
	attr := func(name string, path ...string) Attribute { return Attribute{Name: name, Path: path} }
	alias := func(a Attribute, aliases ...string) Attribute { a.Aliases = aliases; return a }
	return &Vocabulary{
		ResourceTypes: []ResourceType{
			{Name: "user", Aliases: []string{"User"}, Attributes: []Attribute{
				attr("email", "email"), attr("status", "status"),
				alias(attr("roles", "roles"), "role"), alias(attr("group", "groups"), "groups"),
			}},
			{Name: "group", Aliases: []string{"Group"}},
			{Name: "space", Aliases: []string{"Space", "Stream"}, Attributes: []Attribute{
				attr("spaceType", "spaceType"),
			}},
			{Name: "app", Aliases: []string{"App"}, Attributes: []Attribute{
				attr("spaceId", "spaceId"), attr("spaceType", "spaceType"), attr("sectionAccess", "sectionAccess"),
			}, Navigations: []string{"space"}, Related: "space"},
			{Name: "app.object", Aliases: []string{"App.Object", "AppObject"}, Attributes: []Attribute{
				attr("objectType", "objectType"), attr("public", "public"),
				attr("spaceId", "spaceId"), attr("spaceType", "spaceType"),
			}, Navigations: []string{"app", "space"}, Related: "app"},
			{Name: "schedule", Aliases: []string{"Schedule", "ReloadTask"}, Attributes: []Attribute{
				attr("appId", "appId"), attr("interval", "interval"), attr("enabled", "enabled"),
			}},
			{Name: "extension", Aliases: []string{"Extension"}, Attributes: []Attribute{attr("tags", "tags")}},
			{Name: "theme", Aliases: []string{"Theme"}, Attributes: []Attribute{attr("tags", "tags")}},
			{Name: "apikey", Aliases: []string{"ApiKey"}, Attributes: []Attribute{attr("status", "status")}},
			{Name: "webintegration", Aliases: []string{"WebIntegration"}},
			{Name: "license", Aliases: []string{"License"}},
			{Name: "settings", Aliases: []string{"Settings"}},
			{Name: "event", Aliases: []string{"Event"}, Attributes: []Attribute{attr("source", "source")}},
			{Name: "rule", Aliases: []string{"Rule", "SecurityRule"}},
			{Name: "resourcetype", Aliases: []string{"ResourceType"}},
			{Name: "externalresource", Aliases: []string{"ExternalResource"}},
		},
		CommonAttributes: []Attribute{
			attr("name", "name"), attr("id", "id"), alias(attr("resourcetype", "type"), "type"),
			attr("owner", "owner"),
		},
		Navigations: []Navigation{
			{Name: "space", Aliases: []string{"stream"}, Type: "space", Field: "space",
				Attributes: []Attribute{
					attr("id", "id"), attr("name", "name"), alias(attr("spaceType", "type"), "type"), attr("owner", "owner"),
				},
				Copy: map[string]string{"id": "spaceId", "type": "spaceType"}},
			{Name: "app", Type: "app", Field: "app",
				Attributes: []Attribute{attr("id", "id"), attr("name", "name"), attr("owner", "owner"), attr("spaceId", "spaceId")},
				Carry:      []string{"space", "spaceType"}},
		},
		UserAttributes: []Attribute{
			attr("name", "name"), alias(attr("userId", "id"), "id"), attr("email", "email"),
			alias(attr("group", "groups"), "groups"), alias(attr("groupId", "groupIds"), "groupIds"),
			alias(attr("roles", "roles"), "role"), attr("status", "status"), attr("license", "license", "type"),
		},
		Actions: []string{
			"create", "read", "update", "delete", "export", "export_data", "publish", "duplicate", "move",
			"reload", "change_owner", "change_role", "manage_members", "access_offline", "approve",
			"allow_access", "view_data_model", "edit_data_model", "make_public", "make_private",
			"take_snapshot", "generate_ondemand",
		},
	}
}

// Validate reports an inconsistent vocabulary.
func (v *Vocabulary) Validate() error {
	_, err := indexVocabulary(v)
	return err
}

// vocab is a Vocabulary indexed for lookups (all keys lower case).
type vocab struct {
	types      map[string]*typeInfo // name or alias → type
	typeList   []*typeInfo          // in vocabulary order
	typeNames  []string             // canonical names, sorted
	aliasNames []string             // every accepted spelling, for hints
	common     map[string]*attrInfo
	resAttrs   map[string]*attrInfo // union of type attributes
	navs       map[string]*navInfo
	navList    []*navInfo
	user       map[string]*attrInfo
	actions    map[string]bool
	actionList []string
	// extActions is every action of an external type (lower case), by
	// the types declaring it.
	extActions map[string]map[string]bool
	allActions []string          // actionList and the external types' actions, for hints
	hints      map[string]string // typeHint memo: rule sets repeat their caller-defined types
}

// typeHint suggests a known type for an unknown one.
func (x *vocab) typeHint(word string) string {
	h, ok := x.hints[word]
	if !ok {
		h = didYouMean(word, x.aliasNames)
		x.hints[word] = h
	}
	return h
}

type typeInfo struct {
	name     string
	external bool
	actions  map[string]bool      // external: its actions
	attrs    map[string]*attrInfo // external: its attributes (lower-case name)
	anames   []string             // external: attribute names as declared
	aliases  []string             // lower case, name included
	navs     map[string]*navInfo
	related  *navInfo
	index    int
}

type attrInfo struct {
	name  string
	path  []string
	types map[string]bool // for resource attributes: the types declaring it
}

type navInfo struct {
	name   string
	target string
	field  string
	attrs  map[string]*attrInfo
	copy   map[string]string
	carry  []string
	index  int
	anames []string
}

func attrIndex(list []Attribute, what string) (map[string]*attrInfo, []string, error) {
	m := map[string]*attrInfo{}
	var names []string
	for _, a := range list {
		if a.Name == "" || len(a.Path) == 0 {
			return nil, nil, fmt.Errorf("rules: %s attribute %q needs a name and a path", what, a.Name)
		}
		info := &attrInfo{name: a.Name, path: a.Path}
		names = append(names, a.Name)
		for _, n := range append([]string{a.Name}, a.Aliases...) {
			k := strings.ToLower(n)
			if _, dup := m[k]; dup {
				return nil, nil, fmt.Errorf("rules: %s attribute %q declared twice", what, n)
			}
			m[k] = info
		}
	}
	return m, names, nil
}

func indexVocabulary(v *Vocabulary) (*vocab, error) {
	if v == nil {
		return nil, errors.New("rules: nil vocabulary")
	}
	x := &vocab{types: map[string]*typeInfo{}, navs: map[string]*navInfo{}, resAttrs: map[string]*attrInfo{},
		actions: map[string]bool{}, extActions: map[string]map[string]bool{}, hints: map[string]string{}}
	var err error
	if x.common, _, err = attrIndex(v.CommonAttributes, "common"); err != nil {
		return nil, err
	}
	if x.user, _, err = attrIndex(v.UserAttributes, "user"); err != nil {
		return nil, err
	}
	for i, n := range v.Navigations {
		if n.Name == "" || n.Type == "" || n.Field == "" {
			return nil, fmt.Errorf("rules: navigation %q needs a name, a type and a field", n.Name)
		}
		attrs, names, err := attrIndex(n.Attributes, "navigation "+n.Name)
		if err != nil {
			return nil, err
		}
		ni := &navInfo{name: n.Name, target: strings.ToLower(n.Type), field: n.Field, attrs: attrs, copy: n.Copy, carry: n.Carry, index: i, anames: names}
		x.navList = append(x.navList, ni)
		for _, a := range append([]string{n.Name}, n.Aliases...) {
			k := strings.ToLower(a)
			if _, dup := x.navs[k]; dup {
				return nil, fmt.Errorf("rules: navigation %q declared twice", a)
			}
			if _, clash := x.common[k]; clash {
				return nil, fmt.Errorf("rules: navigation %q clashes with a common attribute", a)
			}
			x.navs[k] = ni
		}
	}
	for i, t := range v.ResourceTypes {
		name := strings.ToLower(t.Name)
		if !validTypeName(name) {
			return nil, fmt.Errorf("rules: bad resource type name %q", t.Name)
		}
		ti := &typeInfo{name: name, navs: map[string]*navInfo{}, index: i, external: t.External}
		for _, a := range append([]string{t.Name}, t.Aliases...) {
			k := strings.ToLower(a)
			if !validTypeName(k) {
				return nil, fmt.Errorf("rules: bad resource type alias %q", a)
			}
			if prev, dup := x.types[k]; dup {
				if prev == ti {
					x.aliasNames = append(x.aliasNames, a) // the name again, in QMC's capitalisation
					continue
				}
				return nil, fmt.Errorf("rules: resource type %q declared twice", a)
			}
			x.types[k] = ti
			ti.aliases = append(ti.aliases, k)
			x.aliasNames = append(x.aliasNames, a)
		}
		if t.External {
			if err := x.addExternal(ti, t); err != nil {
				return nil, err
			}
			x.typeList = append(x.typeList, ti)
			x.typeNames = append(x.typeNames, name)
			continue
		}
		for _, a := range t.Attributes {
			if len(a.Path) == 0 || a.Name == "" {
				return nil, fmt.Errorf("rules: attribute %q of %s needs a name and a path", a.Name, t.Name)
			}
			for _, n := range append([]string{a.Name}, a.Aliases...) {
				k := strings.ToLower(n)
				if _, clash := x.common[k]; clash {
					return nil, fmt.Errorf("rules: attribute %q of %s repeats a common attribute", n, t.Name)
				}
				if _, clash := x.navs[k]; clash {
					return nil, fmt.Errorf("rules: attribute %q of %s clashes with a navigation", n, t.Name)
				}
				ai := x.resAttrs[k]
				if ai == nil {
					ai = &attrInfo{name: a.Name, path: a.Path, types: map[string]bool{}}
					x.resAttrs[k] = ai
				} else if !slices.Equal(ai.path, a.Path) {
					return nil, fmt.Errorf("rules: attribute %q has different paths in different types", n)
				}
				ai.types[name] = true
			}
		}
		for _, n := range t.Navigations {
			ni := x.navs[strings.ToLower(n)]
			if ni == nil {
				return nil, fmt.Errorf("rules: resource type %s names unknown navigation %q", t.Name, n)
			}
			ti.navs[ni.name] = ni
		}
		if t.Related != "" {
			ni := x.navs[strings.ToLower(t.Related)]
			if ni == nil || ti.navs[ni.name] == nil {
				return nil, fmt.Errorf("rules: resource type %s: related navigation %q is not one of its navigations", t.Name, t.Related)
			}
			ti.related = ni
		}
		x.typeList = append(x.typeList, ti)
		x.typeNames = append(x.typeNames, name)
	}
	for _, n := range x.navList {
		if x.types[n.target] == nil || x.types[n.target].name != n.target {
			return nil, fmt.Errorf("rules: navigation %s leads to unknown resource type %q", n.name, n.target)
		}
	}
	sort.Strings(x.typeNames)
	for _, a := range v.Actions {
		k := strings.ToLower(a)
		if k == "" || x.actions[k] {
			return nil, fmt.Errorf("rules: action %q empty or declared twice", a)
		}
		x.actions[k] = true
		x.actionList = append(x.actionList, k)
	}
	x.allActions = append(x.allActions, x.actionList...)
	for a := range x.extActions {
		if !x.actions[a] {
			x.allActions = append(x.allActions, a)
		}
	}
	sort.Strings(x.allActions)
	return x, nil
}

// addExternal indexes the actions and attributes of an external type.
func (x *vocab) addExternal(ti *typeInfo, t ResourceType) error {
	if len(t.Navigations) > 0 || t.Related != "" {
		return fmt.Errorf("rules: external resource type %s has navigations", t.Name)
	}
	if len(t.Actions) == 0 {
		return fmt.Errorf("rules: external resource type %s has no actions", t.Name)
	}
	ti.actions, ti.attrs = map[string]bool{}, map[string]*attrInfo{}
	for _, a := range t.Actions {
		k := strings.ToLower(a)
		if k == "" || ti.actions[k] {
			return fmt.Errorf("rules: action %q of %s empty or declared twice", a, t.Name)
		}
		ti.actions[k] = true
		if x.extActions[k] == nil {
			x.extActions[k] = map[string]bool{}
		}
		x.extActions[k][ti.name] = true
	}
	for _, a := range t.Attributes {
		k := strings.ToLower(a.Name)
		if a.Name == "" || strings.HasPrefix(a.Name, "@") {
			return fmt.Errorf("rules: bad attribute name %q of %s", a.Name, t.Name)
		}
		if _, clash := x.common[k]; clash {
			return fmt.Errorf("rules: attribute %q of %s repeats a common attribute", a.Name, t.Name)
		}
		if _, clash := x.navs[k]; clash {
			return fmt.Errorf("rules: attribute %q of %s clashes with a navigation", a.Name, t.Name)
		}
		if ti.attrs[k] != nil {
			return fmt.Errorf("rules: attribute %q of %s declared twice", a.Name, t.Name)
		}
		ti.attrs[k] = &attrInfo{name: a.Name, path: ExternalAttributePath(a.Name), types: map[string]bool{ti.name: true}}
		ti.anames = append(ti.anames, a.Name)
	}
	return nil
}

// ExternalAttributePath is where the attribute name of an external type
// lives below input.resource: its attributes, like custom properties.
func ExternalAttributePath(name string) []string { return []string{"attributes", name} }

// typeActions reports whether a type grants action: a built-in type the
// vocabulary's actions, an external type its own.
func (t *typeInfo) grants(x *vocab, action string) bool {
	if t.external {
		return t.actions[action]
	}
	return x.actions[action]
}

// normalizeAction maps an action as written ("Change owner", "READ") to
// its API name ("change_owner", "read").
func normalizeAction(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(a)
}
