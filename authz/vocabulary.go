package authz

import (
	"errors"
	"sort"
)

// Vocabulary is the set of actions and resource types the policy knows,
// read from data.rulekeeper.vocabulary (policies/vocabulary.json). Requests
// naming anything else are refused before they reach the policy.
type Vocabulary struct {
	Actions       map[string]string // action → description
	ResourceTypes map[string]string // type → description
}

// VocabularyFrom reads the vocabulary out of the policy data tree.
func VocabularyFrom(data map[string]any) (*Vocabulary, error) {
	rk, _ := data["rulekeeper"].(map[string]any)
	voc, _ := rk["vocabulary"].(map[string]any)
	if voc == nil {
		return nil, errors.New("authz: the policy data has no rulekeeper.vocabulary")
	}
	v := &Vocabulary{Actions: map[string]string{}, ResourceTypes: map[string]string{}}
	for name, desc := range asMap(voc["actions"]) {
		v.Actions[name] = describe(desc)
	}
	for name, desc := range asMap(voc["resourceTypes"]) {
		v.ResourceTypes[name] = describe(desc)
	}
	if len(v.Actions) == 0 || len(v.ResourceTypes) == 0 {
		return nil, errors.New("authz: the vocabulary lists no actions or no resource types")
	}
	return v, nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// describe accepts either a description string or an object with one.
func describe(v any) string {
	switch d := v.(type) {
	case string:
		return d
	case map[string]any:
		if s, ok := d["description"].(string); ok {
			return s
		}
	}
	return ""
}

// KnownAction reports whether action is in the vocabulary.
func (v *Vocabulary) KnownAction(action string) bool { _, ok := v.Actions[action]; return ok }

// KnownType reports whether typ is in the vocabulary.
func (v *Vocabulary) KnownType(typ string) bool { _, ok := v.ResourceTypes[typ]; return ok }

// ActionNames lists the actions in order.
func (v *Vocabulary) ActionNames() []string {
	out := make([]string, 0, len(v.Actions))
	for a := range v.Actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
