package decisions

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
)

// AuthZEN 1.0 wire types. Unknown fields are ignored, as the spec asks.
type (
	zSubject struct {
		Type       string          `json:"type"`
		ID         string          `json:"id"`
		Properties json.RawMessage `json:"properties,omitempty"`
	}
	zAction struct {
		Name       string          `json:"name"`
		Properties json.RawMessage `json:"properties,omitempty"`
	}
	zResource struct {
		Type       string          `json:"type"`
		ID         string          `json:"id"`
		Properties json.RawMessage `json:"properties,omitempty"`
	}
	zContext struct {
		Environment string `json:"environment"`
	}
	zEvaluation struct {
		Subject  *zSubject  `json:"subject"`
		Action   *zAction   `json:"action"`
		Resource *zResource `json:"resource"`
		Context  *zContext  `json:"context"`
	}
	zBatch struct {
		zEvaluation
		Evaluations []zEvaluation `json:"evaluations"`
		Options     struct {
			Semantic string `json:"evaluations_semantic"`
		} `json:"options"`
	}
	zDecision struct {
		Decision bool           `json:"decision"`
		Context  map[string]any `json:"context,omitempty"`
	}
)

// decodeLoose parses an AuthZEN body: unknown fields are fine, malformed
// JSON and wrong types are a 400 naming the field.
func decodeLoose(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return apierror.Field("wrong_type", typ.Field, typ.Field+" has the wrong type")
		}
		return apierror.Field("malformed_json", "body", "the body is not valid JSON: "+err.Error())
	}
	return nil
}

func (h *Handlers) evaluation(c fiber.Ctx) error {
	var ev zEvaluation
	if err := decodeLoose(c.Body(), &ev); err != nil {
		return err
	}
	req, err := h.zRequest(c, ev, "")
	if err != nil {
		return err
	}
	d, err := h.Engine.Decide(c.Context(), req)
	if err != nil {
		if errors.Is(err, authz.ErrNotFound) {
			return c.JSON(zDecision{Context: map[string]any{"reason": "unknown_entity", "error": err.Error()}})
		}
		return decideError(err)
	}
	return c.JSON(zAnswer(d))
}

// zAnswer shapes a decision for AuthZEN: the reason is the first gate that
// refused, or no_grant, and the grants explain an allow.
func zAnswer(d authz.Decision) zDecision {
	ctx := map[string]any{"revision": d.Revision, "grants": d.Grants}
	switch {
	case d.Allow:
		ctx["reason"] = "granted"
	case len(d.Denies) > 0:
		ctx["reason"] = d.Denies[0].Reason
		ctx["denies"] = d.Denies
	default:
		ctx["reason"] = "no_grant"
	}
	return zDecision{Decision: d.Allow, Context: ctx}
}

func (h *Handlers) evaluations(c fiber.Ctx) error {
	var b zBatch
	if err := decodeLoose(c.Body(), &b); err != nil {
		return err
	}
	if len(b.Evaluations) == 0 {
		// A batch without items is one evaluation of the defaults.
		req, err := h.zRequest(c, b.zEvaluation, "")
		if err != nil {
			return err
		}
		d, err := h.Engine.Decide(c.Context(), req)
		if err != nil {
			return decideError(err)
		}
		return c.JSON(zAnswer(d))
	}
	if len(b.Evaluations) > MaxBatch {
		return apierror.New(http.StatusBadRequest, "batch_too_large",
			"at most 1000 evaluations in one request", map[string]any{"field": "evaluations", "max": MaxBatch, "got": len(b.Evaluations)})
	}
	semantic := b.Options.Semantic
	switch semantic {
	case "", "execute_all", "deny_on_first_deny", "permit_on_first_permit":
	default:
		return apierror.Field("bad_semantic", "options.evaluations_semantic",
			"evaluations_semantic is execute_all, deny_on_first_deny or permit_on_first_permit")
	}
	// Every item is checked first, then the ids the items name are looked
	// up once for the whole batch (one query per type, see
	// authz.Engine.Prefetch), then each item is decided.
	reqs := make([]authz.Request, len(b.Evaluations))
	errs := make([]error, len(b.Evaluations))
	valid := make([]authz.Request, 0, len(b.Evaluations))
	for i, item := range b.Evaluations {
		merged := item
		if merged.Subject == nil {
			merged.Subject = b.Subject
		}
		if merged.Action == nil {
			merged.Action = b.Action
		}
		if merged.Resource == nil {
			merged.Resource = b.Resource
		}
		if merged.Context == nil {
			merged.Context = b.Context
		}
		reqs[i], errs[i] = h.zRequest(c, merged, "evaluations["+itoa(i)+"].")
		if errs[i] == nil {
			valid = append(valid, reqs[i])
		}
	}
	decide := h.Engine.Decide
	if p, ok := h.Engine.(Prefetcher); ok {
		decide = p.Prefetch(c.Context(), valid).Decide
	}
	out := make([]zDecision, 0, len(b.Evaluations))
	for i := range reqs {
		var answer zDecision
		err := errs[i]
		if err == nil {
			var d authz.Decision
			if d, err = decide(c.Context(), reqs[i]); err == nil {
				answer = zAnswer(d)
			}
		}
		if err != nil {
			e := apierror.From(decideErrorOrSelf(err))
			answer = zDecision{Context: map[string]any{"error": map[string]any{
				"status": e.Status, "code": e.Code, "message": e.Message, "details": e.Details}}}
		}
		out = append(out, answer)
		if (semantic == "deny_on_first_deny" && !answer.Decision) || (semantic == "permit_on_first_permit" && answer.Decision) {
			break
		}
	}
	return c.JSON(fiber.Map{"evaluations": out})
}

func decideErrorOrSelf(err error) error {
	var e *apierror.Error
	if errors.As(err, &e) {
		return e
	}
	return decideError(err)
}

// zRequest turns an AuthZEN evaluation into an engine request; prefix
// names the item in error details.
func (h *Handlers) zRequest(c fiber.Ctx, ev zEvaluation, prefix string) (authz.Request, error) {
	if ev.Subject == nil {
		return authz.Request{}, apierror.Field("missing_subject", prefix+"subject", "the subject is required")
	}
	if ev.Action == nil {
		return authz.Request{}, apierror.Field("missing_action", prefix+"action", "the action is required")
	}
	if ev.Resource == nil {
		return authz.Request{}, apierror.Field("missing_resource", prefix+"resource", "the resource is required")
	}
	if ev.Subject.Type != "" && ev.Subject.Type != "user" {
		return authz.Request{}, apierror.Field("unknown_subject_type", prefix+"subject.type", "the subject type is user")
	}
	var subject authz.Subject
	if len(ev.Subject.Properties) > 0 {
		if err := decodeLoose(ev.Subject.Properties, &subject); err != nil {
			return authz.Request{}, apierror.Field("wrong_type", prefix+"subject.properties", "subject.properties has a field of the wrong type")
		}
	}
	subject.ID = ev.Subject.ID
	var resource authz.Resource
	if len(ev.Resource.Properties) > 0 {
		if err := decodeLoose(ev.Resource.Properties, &resource); err != nil {
			return authz.Request{}, apierror.Field("wrong_type", prefix+"resource.properties", "resource.properties has a field of the wrong type")
		}
	}
	resource.Type, resource.ID = ev.Resource.Type, ev.Resource.ID
	env := ""
	if ev.Context != nil {
		env = ev.Context.Environment
	}
	req, err := h.request(c, &subject, ev.Action.Name, &resource, env)
	if err != nil {
		var e *apierror.Error
		if errors.As(err, &e) {
			if f, ok := e.Details["field"].(string); ok {
				e.Details["field"] = prefix + zField(f)
			}
		}
		return authz.Request{}, err
	}
	return req, nil
}

// zField renames rulekeeper's field paths to AuthZEN's.
func zField(f string) string {
	if f == "action" {
		return "action.name"
	}
	return f
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func (h *Handlers) metadata(c fiber.Ctx) error {
	base := c.BaseURL()
	return c.JSON(fiber.Map{
		"policy_decision_point":       base,
		"access_evaluation_endpoint":  base + "/access/v1/evaluation",
		"access_evaluations_endpoint": base + "/access/v1/evaluations",
		"search_subject_endpoint":     base + "/access/v1/search/subject",
		"search_resource_endpoint":    base + "/access/v1/search/resource",
		"search_action_endpoint":      base + "/access/v1/search/action",
	})
}
