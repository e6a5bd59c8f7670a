package decisions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/identity"
)

// Search page sizes (AuthZEN page.limit).
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 1000
	// searchBatch is how many candidates are read from the store at once.
	searchBatch = 200
)

// Searcher gives the AuthZEN searches their candidates, from the store.
type Searcher interface {
	// Subject hydrates the stored user id (authz.ErrNotFound when unknown).
	Subject(ctx context.Context, id string) (*authz.Subject, error)
	// Filtered is a batch of hydrated resources of typ after the id after,
	// in id order, narrowed in the database by the plan; next is "" after
	// the last batch; exact says every resource answered meets the plan
	// (otherwise they are a superset of those that do).
	// authz.ErrNotStored for types the store does not keep.
	Filtered(ctx context.Context, typ string, plan *authz.Filter, after string, limit int) (rs []authz.Resource, next string, exact bool, err error)
	// UserIDs is a batch of user ids after the id after, in id order.
	UserIDs(ctx context.Context, after string, limit int) (ids []string, next string, err error)
}

// evaluator decides already hydrated inputs (an *authz.Engine).
type evaluator interface {
	Evaluate(ctx context.Context, in *authz.Input) (authz.Decision, error)
}

// zSearch is the body of the three AuthZEN searches.
type zSearch struct {
	Subject  *zSubject  `json:"subject"`
	Action   *zAction   `json:"action"`
	Resource *zResource `json:"resource"`
	Context  *zContext  `json:"context"`
	Page     *struct {
		Token     string `json:"token"`
		NextToken string `json:"next_token"` // the drafts' spelling
		Limit     *int   `json:"limit"`
	} `json:"page"`
}

// zPage is the page of a search answer.
type zPage struct {
	NextToken string `json:"next_token"`
	Count     int    `json:"count"`
}

type zResult struct {
	Type       string         `json:"type,omitempty"`
	ID         string         `json:"id,omitempty"`
	Name       string         `json:"name,omitempty"` // action search
	Properties map[string]any `json:"properties,omitempty"`
}

// searchToken is the opaque continuation: the id (or action) after which
// the next page starts.
type searchToken struct {
	After string `json:"a"`
}

func (b *zSearch) token() (string, int, error) {
	limit := DefaultSearchLimit
	if b.Page == nil {
		return "", limit, nil
	}
	if b.Page.Limit != nil {
		if *b.Page.Limit < 1 || *b.Page.Limit > MaxSearchLimit {
			return "", 0, apierror.Field("bad_limit", "page.limit", fmt.Sprintf("page.limit is a number from 1 to %d", MaxSearchLimit))
		}
		limit = *b.Page.Limit
	}
	tok := b.Page.Token
	if tok == "" {
		tok = b.Page.NextToken
	}
	if tok == "" {
		return "", limit, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	var t searchToken
	if err == nil {
		err = json.Unmarshal(raw, &t)
	}
	if err != nil || t.After == "" {
		return "", 0, apierror.Field("bad_token", "page.token", "the page token is not one this server issued")
	}
	return t.After, limit, nil
}

func nextToken(after string) string {
	raw, _ := json.Marshal(searchToken{After: after})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func (b *zSearch) environment() (string, error) {
	env := ""
	if b.Context != nil {
		env = b.Context.Environment
	}
	switch env {
	case "":
		return "hub", nil
	case "hub", "console":
		return env, nil
	}
	return "", apierror.Field("bad_environment", "context.environment", "the environment is hub or console")
}

func (h *Handlers) checkAction(b *zSearch) (string, error) {
	if b.Action == nil || b.Action.Name == "" {
		return "", apierror.Field("missing_action", "action.name", "the action is required")
	}
	if !h.Vocab.KnownAction(b.Action.Name) {
		return "", apierror.Field("unknown_action", "action.name", fmt.Sprintf("unknown action %q", b.Action.Name))
	}
	return b.Action.Name, nil
}

func (h *Handlers) checkResourceType(b *zSearch) error {
	if b.Resource == nil || b.Resource.Type == "" {
		return apierror.Field("missing_resource", "resource.type", "the resource needs a type")
	}
	if !h.Vocab.KnownType(b.Resource.Type) {
		return apierror.Field("unknown_resource_type", "resource.type", fmt.Sprintf("unknown resource type %q", b.Resource.Type))
	}
	return nil
}

// resource is the request's resource with its properties.
func (b *zSearch) resource() (authz.Resource, error) {
	var r authz.Resource
	if len(b.Resource.Properties) > 0 {
		if err := decodeLoose(b.Resource.Properties, &r); err != nil {
			return r, apierror.Field("wrong_type", "resource.properties", "resource.properties has a field of the wrong type")
		}
	}
	r.Type, r.ID = b.Resource.Type, b.Resource.ID
	return r, nil
}

func (b *zSearch) subjectID() (string, error) {
	if b.Subject == nil || b.Subject.ID == "" {
		return "", apierror.Field("missing_subject", "subject.id", "the subject needs an id")
	}
	if b.Subject.Type != "" && b.Subject.Type != "user" {
		return "", apierror.Field("unknown_subject_type", "subject.type", "the subject type is user")
	}
	return b.Subject.ID, nil
}

// mayAsk asks the policy whether the caller may ask decisions about the
// subject id: itself, or anybody with a role that grants reading
// decisions (TenantAdmin, AuthzClient).
func (h *Handlers) mayAsk(c fiber.Ctx, id, env string) (bool, error) {
	caller := identity.CallerOf(c)
	if caller == nil {
		return false, apierror.Unauthorized("missing_credentials", "the decision endpoints need a caller")
	}
	d, err := h.Engine.Decide(c.Context(), authz.Request{Subject: authz.Subject{ID: caller.User.ID}, Action: "read",
		Resource: authz.Resource{Type: "decision", ID: id}, Environment: env})
	if err != nil {
		return false, decideError(err)
	}
	return d.Allow, nil
}

func forbiddenSubject() error {
	return apierror.New(http.StatusForbidden, "forbidden_subject",
		"asking about another subject needs the TenantAdmin or AuthzClient role", map[string]any{"field": "subject.id"})
}

func (h *Handlers) searchBody(c fiber.Ctx) (*zSearch, string, error) {
	var b zSearch
	if err := decodeLoose(c.Body(), &b); err != nil {
		return nil, "", err
	}
	env, err := b.environment()
	return &b, env, err
}

func (h *Handlers) searchUnavailable() error {
	if h.Search == nil {
		return apierror.New(http.StatusNotImplemented, "search_unavailable", "search is not configured", nil)
	}
	return nil
}

// searchResource answers the resources of resource.type on which the
// subject may do the action, in id order, a page at a time.
func (h *Handlers) searchResource(c fiber.Ctx) error {
	if err := h.searchUnavailable(); err != nil {
		return err
	}
	b, env, err := h.searchBody(c)
	if err != nil {
		return err
	}
	sid, err := b.subjectID()
	if err != nil {
		return err
	}
	action, err := h.checkAction(b)
	if err != nil {
		return err
	}
	if err := h.checkResourceType(b); err != nil {
		return err
	}
	after, limit, err := b.token()
	if err != nil {
		return err
	}
	if ok, err := h.mayAsk(c, sid, env); err != nil || !ok {
		return cmpErr(err, forbiddenSubject())
	}
	ctx := c.Context()
	subject, err := h.Search.Subject(ctx, sid)
	if err != nil {
		return decideError(err)
	}
	ev, _ := h.Engine.(evaluator)
	typ := b.Resource.Type
	plan := authz.Opaque("no planner")
	if h.Planner != nil {
		plan, err = h.Planner.Plan(ctx, authz.PlanRequest{Subject: sid, Action: action, Environments: []string{env},
			Resource: authz.Resource{Type: typ}})
		if err != nil {
			return decideError(err)
		}
	}
	results := []zResult{}
	next := ""
	for {
		rs, more, exact, err := h.Search.Filtered(ctx, typ, plan, after, searchBatch)
		if errors.Is(err, authz.ErrNotStored) {
			return apierror.New(http.StatusBadRequest, "unsearchable_resource_type",
				fmt.Sprintf("rulekeeper keeps no resources of type %q to search", typ), map[string]any{"field": "resource.type"})
		}
		if err != nil {
			return err
		}
		for i := range rs {
			r := &rs[i]
			d := authz.Decision{Allow: exact} // the plan decided it in the database
			switch {
			case exact:
			case ev != nil:
				d, err = ev.Evaluate(ctx, &authz.Input{Subject: *subject, Action: action, Resource: *r, Environment: env})
			default:
				d, err = h.Engine.Decide(ctx, authz.Request{Subject: authz.Subject{ID: sid}, Action: action,
					Resource: authz.Resource{Type: r.Type, ID: r.ID}, Environment: env})
			}
			if err != nil {
				return decideError(err)
			}
			if !d.Allow {
				continue
			}
			if len(results) == limit {
				// One more allowed resource exists: the page is full.
				next = nextToken(results[len(results)-1].ID)
				return c.JSON(fiber.Map{"page": zPage{NextToken: next, Count: len(results)}, "results": results})
			}
			results = append(results, zResult{Type: r.Type, ID: r.ID, Properties: map[string]any{"name": r.Name}})
		}
		if more == "" {
			break
		}
		after = more
	}
	return c.JSON(fiber.Map{"page": zPage{NextToken: next, Count: len(results)}, "results": results})
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// searchSubject answers the users who may do the action on the resource,
// among those the caller may ask about, in id order.
func (h *Handlers) searchSubject(c fiber.Ctx) error {
	if err := h.searchUnavailable(); err != nil {
		return err
	}
	b, env, err := h.searchBody(c)
	if err != nil {
		return err
	}
	if b.Subject == nil || (b.Subject.Type != "" && b.Subject.Type != "user") {
		return apierror.Field("unknown_subject_type", "subject.type", "the subject type is user")
	}
	action, err := h.checkAction(b)
	if err != nil {
		return err
	}
	if err := h.checkResourceType(b); err != nil {
		return err
	}
	res, err := b.resource()
	if err != nil {
		return err
	}
	after, limit, err := b.token()
	if err != nil {
		return err
	}
	ctx := c.Context()
	results := []zResult{}
	for {
		ids, more, err := h.Search.UserIDs(ctx, after, searchBatch)
		if err != nil {
			return err
		}
		for _, id := range ids {
			ok, err := h.mayAsk(c, id, env)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			d, err := h.Engine.Decide(ctx, authz.Request{Subject: authz.Subject{ID: id}, Action: action, Resource: res, Environment: env})
			if err != nil {
				return decideError(err)
			}
			if !d.Allow {
				continue
			}
			if len(results) == limit {
				return c.JSON(fiber.Map{"page": zPage{NextToken: nextToken(results[len(results)-1].ID), Count: len(results)}, "results": results})
			}
			results = append(results, zResult{Type: "user", ID: id})
		}
		if more == "" {
			break
		}
		after = more
	}
	return c.JSON(fiber.Map{"page": zPage{Count: len(results)}, "results": results})
}

// searchAction answers the vocabulary's actions the subject may do on the
// resource, in name order.
func (h *Handlers) searchAction(c fiber.Ctx) error {
	b, env, err := h.searchBody(c)
	if err != nil {
		return err
	}
	sid, err := b.subjectID()
	if err != nil {
		return err
	}
	if err := h.checkResourceType(b); err != nil {
		return err
	}
	res, err := b.resource()
	if err != nil {
		return err
	}
	after, limit, err := b.token()
	if err != nil {
		return err
	}
	lister, ok := h.Vocab.(interface{ Actions(typ string) []string })
	if !ok {
		return apierror.New(http.StatusNotImplemented, "search_unavailable", "the vocabulary cannot list its actions", nil)
	}
	if ok, err := h.mayAsk(c, sid, env); err != nil || !ok {
		return cmpErr(err, forbiddenSubject())
	}
	// The actions of the resource's type (an external type has its own).
	actions := slices.Sorted(slices.Values(lister.Actions(res.Type)))
	results := []zResult{}
	for _, a := range actions {
		if a <= after {
			continue
		}
		d, err := h.Engine.Decide(c.Context(), authz.Request{Subject: authz.Subject{ID: sid}, Action: a, Resource: res, Environment: env})
		if err != nil {
			return decideError(err)
		}
		if !d.Allow {
			continue
		}
		if len(results) == limit {
			return c.JSON(fiber.Map{"page": zPage{NextToken: nextToken(results[len(results)-1].Name), Count: len(results)}, "results": results})
		}
		results = append(results, zResult{Name: a})
	}
	return c.JSON(fiber.Map{"page": zPage{Count: len(results)}, "results": results})
}
