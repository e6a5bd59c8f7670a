package opaserver

import (
	"encoding/json"

	"github.com/rulekeeper/rulekeeper/authz"
)

// The policy input in JSON, field for field what authz.Input.value() gives
// the embedded engine (policies/CONTRACT.md): every field present, empty
// strings, lists and objects included, so that the stock OPA server
// evaluates exactly the document rulekeeper's engine evaluates.

type inputLicense struct {
	Type              string `json:"type"`
	Excluded          bool   `json:"excluded"`
	CapacityExhausted bool   `json:"capacityExhausted"`
}

type inputSubject struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Email      string              `json:"email"`
	Status     string              `json:"status"`
	Anonymous  bool                `json:"anonymous"`
	Roles      []string            `json:"roles"`
	Groups     []string            `json:"groups"`
	GroupIDs   []string            `json:"groupIds"`
	License    inputLicense        `json:"license"`
	Attributes map[string][]string `json:"attributes"`
	Spaces     map[string][]string `json:"spaces"`
}

type inputRelated struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Owner   string `json:"owner"`
	SpaceID string `json:"spaceId"`
}

type inputResource struct {
	Type            string              `json:"type"`
	ID              string              `json:"id"`
	Name            string              `json:"name"`
	Owner           string              `json:"owner"`
	SpaceID         string              `json:"spaceId"`
	SpaceType       string              `json:"spaceType"`
	ObjectType      string              `json:"objectType"`
	Public          bool                `json:"public"`
	SectionAccess   bool                `json:"sectionAccess"`
	TargetSpaceID   string              `json:"targetSpaceId"`
	TargetSpaceType string              `json:"targetSpaceType"`
	Attributes      map[string][]string `json:"attributes"`
	Space           *inputRelated       `json:"space,omitempty"`
	App             *inputRelated       `json:"app,omitempty"`
}

// SubjectJSON is input.subject for s.
func SubjectJSON(s *authz.Subject) ([]byte, error) {
	return json.Marshal(subject(s))
}

func subject(s *authz.Subject) inputSubject {
	return inputSubject{
		ID: s.ID, Name: s.Name, Email: s.Email, Status: s.Status, Anonymous: s.Anonymous,
		Roles: list(s.Roles), Groups: list(s.Groups), GroupIDs: list(s.GroupIDs),
		License:    inputLicense{Type: s.License.Type, Excluded: s.License.Excluded, CapacityExhausted: s.License.CapacityExhausted},
		Attributes: multi(s.Attributes), Spaces: multi(s.Spaces),
	}
}

// ResourceJSON is input.resource for r.
func ResourceJSON(r *authz.Resource) ([]byte, error) {
	return json.Marshal(resource(r))
}

func resource(r *authz.Resource) inputResource {
	return inputResource{
		Type: r.Type, ID: r.ID, Name: r.Name, Owner: r.Owner, SpaceID: r.SpaceID, SpaceType: r.SpaceType,
		ObjectType: r.ObjectType, Public: r.Public, SectionAccess: r.SectionAccess,
		TargetSpaceID: r.TargetSpaceID, TargetSpaceType: r.TargetSpaceType,
		Attributes: multi(r.Attributes), Space: related(r.Space), App: related(r.App),
	}
}

// RequestJSON is the body of OPA's POST /v1/data/<decision> for in:
// {"input": {subject, action, resource, context: {environment}}}.
func RequestJSON(in *authz.Input) ([]byte, error) {
	type context struct {
		Environment string `json:"environment"`
	}
	type input struct {
		Subject  inputSubject  `json:"subject"`
		Action   string        `json:"action"`
		Resource inputResource `json:"resource"`
		Context  context       `json:"context"`
	}
	return json.Marshal(struct {
		Input input `json:"input"`
	}{input{subject(&in.Subject), in.Action, resource(&in.Resource), context{in.Environment}}})
}

func related(r *authz.Related) *inputRelated {
	if r == nil {
		return nil
	}
	return &inputRelated{ID: r.ID, Name: r.Name, Type: r.Type, Owner: r.Owner, SpaceID: r.SpaceID}
}

func list(vs []string) []string {
	if vs == nil {
		return []string{}
	}
	return vs
}

func multi(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = list(v)
	}
	return out
}
