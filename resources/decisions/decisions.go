// Package decisions serves the decision endpoints that external services
// call: rulekeeper's own POST /authz/check and the AuthZEN Authorization API
// 1.0 (evaluation, batch evaluations, PDP metadata). Handlers parse and
// validate, ask the authz engine, and shape the answer; nothing else.
package decisions

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// MaxBatch is the largest number of evaluations one batch may hold.
const MaxBatch = 1000

// Vocabulary tells which actions and resource types exist: the resource
// type registry (*authz.Types), built-in and external types.
type Vocabulary interface {
	KnownAction(name string) bool
	KnownType(name string) bool
	// Check refuses an unknown type, or an action the type does not
	// have, with an *authz.TypeError naming what the registry has.
	Check(typ, action string) error
	// ApplyProperties reads a resource's inline properties into it.
	ApplyProperties(r *authz.Resource, raw json.RawMessage, field string) error
}

// Decider answers decisions (an *authz.Engine).
type Decider interface {
	Decide(ctx context.Context, req authz.Request) (authz.Decision, error)
}

// SubjectResolver maps the ids other services know a user by (rulekeeper
// id, IdP subject, userName, alias, email) to the rulekeeper id
// (authz.ErrNotFound when none names a user): an *entities.Source.
type SubjectResolver interface {
	ResolveSubject(ctx context.Context, ref string) (string, error)
}

// Prefetcher is a Decider that decides batches from ids looked up once
// per batch (an *authz.Engine).
type Prefetcher interface {
	Prefetch(ctx context.Context, reqs []authz.Request) *authz.Batch
}

// Handlers holds the decision endpoints' dependencies.
type Handlers struct {
	// Subjects resolves subject.id (nil: only rulekeeper ids).
	Subjects SubjectResolver
	// PublicURL is the base URL the metadata document advertises ("": the
	// request's); TrustedProxy honours X-Forwarded-Proto and
	// X-Forwarded-Host when it is not set.
	PublicURL    string
	TrustedProxy bool
	Engine       Decider
	Vocab        Vocabulary
	Search       Searcher // candidates of the AuthZEN searches (search.go)
	// Planner narrows the resource search in the database (nil: every
	// candidate is decided).
	Planner *authz.Planner
}

// Register mounts the endpoints; auth authenticates the caller.
func (h *Handlers) Register(app fiber.Router, auth fiber.Handler) {
	app.Get("/.well-known/authzen-configuration", h.metadata)
	app.Post("/authz/check", auth, h.check)
	app.Post("/access/v1/evaluation", auth, echoRequestID, h.evaluation)
	app.Post("/access/v1/evaluations", auth, echoRequestID, h.evaluations)
	app.Post("/access/v1/search/subject", auth, echoRequestID, h.searchSubject)
	app.Post("/access/v1/search/resource", auth, echoRequestID, h.searchResource)
	app.Post("/access/v1/search/action", auth, echoRequestID, h.searchAction)
}

// checkRequest is the body of POST /authz/check.
type checkRequest struct {
	Subject  *authz.Subject `json:"subject"`
	Action   string         `json:"action"`
	Resource *checkResource `json:"resource"`
	Context  *struct {
		Environment string `json:"environment"`
	} `json:"context"`
}

// rawBody is the request's own bytes when they are not compressed (c.Body
// copies them; the fast decoders copy what they keep), else c.Body.
func rawBody(c fiber.Ctx) []byte {
	if len(c.Request().Header.ContentEncoding()) > 0 {
		return c.Body()
	}
	return c.Request().Body()
}

func (h *Handlers) check(c fiber.Ctx) error {
	var body checkRequest
	if !decodeCheck(rawBody(c), &body) {
		var err error
		if body, err = decodeCheckLoose(c.Body()); err != nil {
			return err
		}
	}
	env := ""
	if body.Context != nil {
		env = body.Context.Environment
	}
	var res *authz.Resource
	if body.Resource != nil {
		res = &body.Resource.Resource
		if err := h.properties(res, body.Resource.Properties, "resource.properties"); err != nil {
			return err
		}
	}
	req, err := h.request(c, body.Subject, body.Action, res, env)
	if err != nil {
		return err
	}
	d, err := h.Engine.Decide(c.Context(), req)
	if err != nil {
		return decideError(err)
	}
	// What c.JSON(d) sends, written without reflection into a buffer on
	// the stack that the response copies.
	var buf [512]byte
	c.Response().SetBody(appendDecision(buf[:0], &d))
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSONCharsetUTF8)
	return nil
}

// decodeCheckLoose is the body of any other shape, through encoding/json
// (apierror.DecodeJSON words the errors). Apart from check so that only
// this path allocates the request.
func decodeCheckLoose(b []byte) (checkRequest, error) {
	var body checkRequest
	err := apierror.DecodeJSON(b, &body)
	return body, err
}

// request validates the parts of a question and checks that the caller may
// ask it: about itself, or about anybody with TenantAdmin or AuthzClient.
func (h *Handlers) request(c fiber.Ctx, subject *authz.Subject, action string, resource *authz.Resource, env string) (authz.Request, error) {
	switch {
	case subject == nil || subject.ID == "":
		return authz.Request{}, apierror.Field("missing_subject", "subject.id", "the subject needs an id")
	case action == "":
		return authz.Request{}, apierror.Field("missing_action", "action", "the action is required")
	case resource == nil || resource.Type == "":
		return authz.Request{}, apierror.Field("missing_resource", "resource.type", "the resource needs a type")
	}
	if err := h.Vocab.Check(resource.Type, action); err != nil {
		return authz.Request{}, typeError(err)
	}
	id, err := h.resolve(c.Context(), subject.ID)
	if err != nil {
		return authz.Request{}, err
	}
	subject.ID = id
	// The resource's owner, named inline by any id of the user, is the
	// user's rulekeeper id, as the subject is (resource.owner = user).
	if resource.Owner != "" {
		if resource.Owner, err = h.resolve(c.Context(), resource.Owner); err != nil {
			return authz.Request{}, err
		}
	}
	if env == "" {
		env = "hub"
	}
	if env != "hub" && env != "console" {
		return authz.Request{}, apierror.Field("bad_environment", "context.environment", "the environment is hub or console")
	}
	caller := identity.CallerOf(c)
	if caller == nil {
		return authz.Request{}, apierror.Unauthorized("missing_credentials", "the decision endpoints need a caller")
	}
	if subject.ID != caller.User.ID && !slices.ContainsFunc(caller.User.Roles, func(r string) bool {
		return r == identity.RoleTenantAdmin || r == identity.RoleAuthzClient
	}) {
		return authz.Request{}, apierror.New(http.StatusForbidden, "forbidden_subject",
			"asking about another subject needs the TenantAdmin or AuthzClient role",
			map[string]any{"field": "subject.id"})
	}
	return authz.Request{Subject: *subject, Action: action, Resource: *resource, Environment: env}, nil
}

// resolve answers the rulekeeper id of the subject ref; a ref that names
// no stored user is answered as it is (an inline subject, or the engine's
// unknown_entity).
func (h *Handlers) resolve(ctx context.Context, ref string) (string, error) {
	if h.Subjects == nil {
		return ref, nil
	}
	id, err := h.Subjects.ResolveSubject(ctx, ref)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, authz.ErrNotFound):
		return ref, nil
	}
	return "", decideError(err)
}

// checkResource is a resource of POST /authz/check: the engine's fields
// and, as in AuthZEN, inline properties (authz.Types.ApplyProperties).
type checkResource struct {
	authz.Resource
	Properties json.RawMessage `json:"properties"`
}

// properties reads inline properties into r (its type must be set first;
// an unknown type is refused later, by request).
func (h *Handlers) properties(r *authz.Resource, raw json.RawMessage, field string) error {
	if len(raw) == 0 {
		return nil
	}
	return typeError(h.Vocab.ApplyProperties(r, raw, field))
}

// typeError maps the registry's *authz.TypeError to a 400 naming the
// field and listing the names the registry has (details.known).
func typeError(err error) error {
	var te *authz.TypeError
	if !errors.As(err, &te) {
		return err
	}
	details := map[string]any{"field": te.Field}
	if te.Known != nil {
		details["known"] = te.Known
	}
	return apierror.New(http.StatusBadRequest, te.Code, te.Message, details)
}

// decideError maps engine errors: unknown entities are the caller's fault
// (404), anything else is ours (500) — and never an allow.
func decideError(err error) error {
	if errors.Is(err, authz.ErrNotFound) {
		return apierror.New(http.StatusNotFound, "unknown_entity", err.Error(), nil)
	}
	if store.Unavailable(err) {
		return apierror.Unavailable() // denied: the database did not answer in time
	}
	return apierror.New(http.StatusInternalServerError, "decision_failed",
		"the decision could not be evaluated; access is denied", nil)
}

func echoRequestID(c fiber.Ctx) error {
	if id := c.Get("X-Request-ID"); id != "" {
		c.Set("X-Request-ID", id)
	}
	return c.Next()
}
