package decisions

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
	// zDecisions is the answer to a batch: nothing but the evaluations
	// (§7.2 recommends omitting the top-level decision).
	zDecisions struct {
		Evaluations []zDecision `json:"evaluations"`
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
	if !decodeZEvaluation(rawBody(c), &ev) {
		var err error
		if ev, err = decodeZEvaluationLoose(c.Body()); err != nil {
			return err
		}
	}
	return h.single(c, ev)
}

// decodeZEvaluationLoose is an evaluation of any other shape (decodeLoose).
// Apart from evaluation so that only this path allocates the request.
func decodeZEvaluationLoose(b []byte) (zEvaluation, error) {
	var ev zEvaluation
	err := decodeLoose(b, &ev)
	return ev, err
}

// single answers one evaluation (also a batch without items, §7.1).
func (h *Handlers) single(c fiber.Ctx, ev zEvaluation) error {
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
	// What c.JSON(zAnswer(d)) sends, written without a map or reflection
	// into a buffer on the stack that the response copies.
	var buf [512]byte
	c.Response().SetBody(appendZAnswer(buf[:0], &d))
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSONCharsetUTF8)
	return nil
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

// Evaluation semantics of a batch (AuthZEN §7.1.2.1).
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

func (h *Handlers) evaluations(c fiber.Ctx) error {
	var b zBatch
	if err := decodeLoose(c.Body(), &b); err != nil {
		return err
	}
	if len(b.Evaluations) == 0 {
		// Without items the request is one evaluation of the defaults,
		// answered as one (§7.1).
		return h.single(c, b.zEvaluation)
	}
	if len(b.Evaluations) > MaxBatch {
		return apierror.New(http.StatusBadRequest, "batch_too_large",
			"at most 1000 evaluations in one request", map[string]any{"field": "evaluations", "max": MaxBatch, "got": len(b.Evaluations)})
	}
	semantic := cmp.Or(b.Options.Semantic, ExecuteAll)
	switch semantic {
	case ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		return apierror.Field("bad_semantic", "options.evaluations_semantic",
			"evaluations_semantic is execute_all, deny_on_first_deny or permit_on_first_permit")
	}
	// Every item inherits the top-level defaults it does not override
	// (§7.1.1); an item that still lacks a required key fails the whole
	// request, before anything is decided. Every item is checked first,
	// then the ids the items name are looked up once for the whole batch
	// (one query per type, see authz.Engine.Prefetch), then each item is
	// decided.
	reqs := make([]authz.Request, len(b.Evaluations))
	errs := make([]error, len(b.Evaluations))
	valid := make([]authz.Request, 0, len(b.Evaluations))
	for i, item := range b.Evaluations {
		merged := item
		merged.Subject = cmp.Or(merged.Subject, b.Subject)
		merged.Action = cmp.Or(merged.Action, b.Action)
		merged.Resource = cmp.Or(merged.Resource, b.Resource)
		merged.Context = cmp.Or(merged.Context, b.Context)
		if err := merged.required("evaluations[" + strconv.Itoa(i) + "]."); err != nil {
			return err
		}
		reqs[i], errs[i] = h.zRequest(c, merged, "evaluations["+strconv.Itoa(i)+"].")
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
			// An item's error is that item's deny (§7.2.1), unless the
			// store is down: then the whole request fails closed.
			e := apierror.From(decideErrorOrSelf(err))
			if e.Status >= 500 {
				return e
			}
			answer = zDecision{Context: map[string]any{"reason": e.Code, "error": map[string]any{
				"status": e.Status, "code": e.Code, "message": e.Message, "details": e.Details}}}
		}
		if (semantic == DenyOnFirstDeny && !answer.Decision) || (semantic == PermitOnFirstPermit && answer.Decision) {
			answer.Context["semantic"] = semantic // why the batch ends here
			out = append(out, answer)
			break
		}
		out = append(out, answer)
	}
	return c.JSON(zDecisions{Evaluations: out})
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
	if err := ev.required(prefix); err != nil {
		return authz.Request{}, err
	}
	if ev.Subject.Type != "user" {
		return authz.Request{}, apierror.Field("unknown_subject_type", prefix+"subject.type",
			fmt.Sprintf("the subject type is user, not %q", ev.Subject.Type))
	}
	subject, err := subjectProps(ev.Subject.Properties, prefix)
	if err != nil {
		return authz.Request{}, err
	}
	subject.ID = ev.Subject.ID
	resource := authz.Resource{Type: ev.Resource.Type}
	if err := h.properties(&resource, ev.Resource.Properties, prefix+"resource.properties"); err != nil {
		return authz.Request{}, err
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

// missing is the 400 of a required key left out (§10.1.1):
// missing_subject, missing_action or missing_resource, with the full path.
func missing(field, message string) error {
	entity := field[strings.LastIndex(field, "]")+1:]
	entity, _, _ = strings.Cut(strings.TrimPrefix(entity, "."), ".")
	return apierror.Field("missing_"+entity, field, message)
}

// required checks the keys AuthZEN §5 makes REQUIRED: subject type and id,
// action name, resource type and id.
func (ev *zEvaluation) required(prefix string) error {
	switch {
	case ev.Subject == nil:
		return missing(prefix+"subject", "the subject is required")
	case ev.Subject.Type == "":
		return missing(prefix+"subject.type", "subject.type is required")
	case ev.Subject.ID == "":
		return missing(prefix+"subject.id", "subject.id is required")
	case ev.Action == nil:
		return missing(prefix+"action", "the action is required")
	case ev.Action.Name == "":
		return missing(prefix+"action.name", "action.name is required")
	case ev.Resource == nil:
		return missing(prefix+"resource", "the resource is required")
	case ev.Resource.Type == "":
		return missing(prefix+"resource.type", "resource.type is required")
	case ev.Resource.ID == "":
		return missing(prefix+"resource.id", "resource.id is required")
	}
	return nil
}

// subjectProps reads subject.properties. The policy's own subject fields
// (name, email, status, anonymous, roles, groups, groupIds, license,
// attributes, spaces) keep their
// meaning; every other key is a custom attribute (user.@key in a rule): a
// scalar or a list of scalars. For a stored subject only the attributes
// count, and they override the stored ones of the same name for this
// decision (authz.Request); the other fields describe a subject the store
// does not know.
func subjectProps(raw json.RawMessage, prefix string) (authz.Subject, error) {
	var s authz.Subject
	if len(raw) == 0 || string(raw) == "null" {
		return s, nil
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil {
		return s, apierror.Field("wrong_type", prefix+"subject.properties", "subject.properties is an object")
	}
	known := map[string]json.RawMessage{}
	for k, v := range props {
		switch k {
		case "name", "email", "status", "anonymous", "roles", "groups", "groupIds", "license", "attributes", "spaces":
			known[k] = v
			continue
		}
		vals, ok := attrValues(v)
		if !ok {
			return s, apierror.Field("wrong_type", prefix+"subject.properties."+k, "a subject property is a string, number, boolean or a list of them")
		}
		if s.Attributes == nil {
			s.Attributes = map[string][]string{}
		}
		s.Attributes[k] = vals
	}
	if len(known) > 0 {
		b, _ := json.Marshal(known)
		extra := s.Attributes
		s.Attributes = nil
		if err := decodeLoose(b, &s); err != nil {
			return s, apierror.Field("wrong_type", prefix+"subject.properties", "subject.properties has a field of the wrong type")
		}
		for k, v := range extra {
			if s.Attributes == nil {
				s.Attributes = map[string][]string{}
			}
			s.Attributes[k] = v
		}
	}
	return s, nil
}

// attrValues reads a JSON scalar or list of scalars as attribute values.
func attrValues(raw json.RawMessage) ([]string, bool) {
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		var one any
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, false
		}
		list = []any{one}
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case bool, float64:
			b, _ := json.Marshal(x)
			out = append(out, string(b))
		case nil:
		default:
			return nil, false
		}
	}
	return out, true
}

// zField renames rulekeeper's field paths to AuthZEN's.
func zField(f string) string {
	if f == "action" {
		return "action.name"
	}
	return f
}

// metadata serves the PDP metadata (§9): endpoint URLs under the
// policy_decision_point identifier, which is --public-url when configured,
// else the request's own base URL (X-Forwarded-Proto/Host count only
// behind a trusted proxy). Endpoints this server does not serve are left
// out (§9.2.2: parameters without a value are omitted).
func (h *Handlers) metadata(c fiber.Ctx) error {
	base := h.baseURL(c)
	md := map[string]string{
		"policy_decision_point":       base,
		"access_evaluation_endpoint":  base + "/access/v1/evaluation",
		"access_evaluations_endpoint": base + "/access/v1/evaluations",
		"search_action_endpoint":      base + "/access/v1/search/action",
	}
	if h.Search != nil {
		md["search_subject_endpoint"] = base + "/access/v1/search/subject"
		md["search_resource_endpoint"] = base + "/access/v1/search/resource"
	}
	return c.JSON(md)
}

// baseURL is the PDP identifier: scheme and host, no path, query or fragment.
func (h *Handlers) baseURL(c fiber.Ctx) string {
	if h.PublicURL != "" {
		return strings.TrimRight(h.PublicURL, "/")
	}
	scheme, host := c.Scheme(), c.Host()
	if h.TrustedProxy {
		if p := firstValue(c.Get(fiber.HeaderXForwardedProto)); p == "http" || p == "https" {
			scheme = p
		}
		if fh := firstValue(c.Get(fiber.HeaderXForwardedHost)); validHost(fh) {
			host = fh
		}
	}
	return scheme + "://" + host
}

// firstValue is the first of a comma-separated header's values (the one
// the outermost proxy set).
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.ToLower(strings.TrimSpace(v))
}

// validHost accepts host[:port] and nothing that could carry a path,
// query, fragment or credentials into the advertised URLs.
func validHost(h string) bool {
	if h == "" || strings.ContainsAny(h, "/?#@\\ ") {
		return false
	}
	u, err := url.Parse("https://" + h)
	return err == nil && u.Host == h
}

// CheckPublicURL validates --public-url: an absolute http(s) URL without
// query or fragment (AuthZEN §9.1.1 wants https; plain http is accepted for
// development).
func CheckPublicURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--public-url %q: want an absolute http(s) URL without query or fragment, e.g. https://pdp.example.com", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
