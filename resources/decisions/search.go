package decisions

import (
	"cmp"
	"context"
	"crypto/sha256"
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
	"github.com/rulekeeper/rulekeeper/resources/store"
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
	// UserBatch is a batch of users after the id after, in id order.
	UserBatch(ctx context.Context, after string, limit int) (us []store.User, next string, err error)
	// GroupBatch is a batch of groups after the id after, in id order.
	GroupBatch(ctx context.Context, after string, limit int) (gs []store.Group, next string, err error)
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

// zSearchAnswer is a search answer: page first (§8.3 recommends it), then
// the results, and nothing else.
type zSearchAnswer struct {
	Page    zPage     `json:"page"`
	Results []zResult `json:"results"`
}

type zResult struct {
	Type       string         `json:"type,omitempty"`
	ID         string         `json:"id,omitempty"`
	Name       string         `json:"name,omitempty"` // action search
	Properties map[string]any `json:"properties,omitempty"`
}

// searchToken is the opaque continuation: the id (or action) after which
// the next page starts, and a digest of the request it continues.
type searchToken struct {
	After string `json:"a"`
	Query string `json:"q"`
}

// digest identifies a search request apart from its page token: the
// entities, context and limit, whatever the order of their keys. A token
// only continues the request that issued it (§8.2: everything but the
// token stays the same across pages).
func digest(body []byte, limit int) string {
	var m map[string]any
	_ = json.Unmarshal(body, &m) // the body already decoded once
	delete(m, "page")
	m["limit"] = limit
	canon, _ := json.Marshal(m) // map keys are sorted
	sum := sha256.Sum256(canon)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// token reads the page: the id to resume after and the limit. A limit of
// 0 (AuthZEN allows any non-negative limit) is the default page size.
func (b *zSearch) token(body []byte) (after string, limit int, query string, err error) {
	limit = DefaultSearchLimit
	if b.Page != nil && b.Page.Limit != nil {
		if *b.Page.Limit < 0 || *b.Page.Limit > MaxSearchLimit {
			return "", 0, "", apierror.Field("bad_limit", "page.limit", fmt.Sprintf("page.limit is a number from 0 to %d", MaxSearchLimit))
		}
		if *b.Page.Limit > 0 {
			limit = *b.Page.Limit
		}
	}
	query = digest(body, limit)
	if b.Page == nil {
		return "", limit, query, nil
	}
	tok := b.Page.Token
	if tok == "" {
		tok = b.Page.NextToken
	}
	if tok == "" {
		return "", limit, query, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	var t searchToken
	if err == nil {
		err = json.Unmarshal(raw, &t)
	}
	if err != nil || t.After == "" {
		return "", 0, "", apierror.Field("bad_token", "page.token", "the page token is not one this server issued")
	}
	if t.Query != query {
		return "", 0, "", apierror.Field("page_changed", "page.token",
			"the request changed since the page token was issued: every key but page.token must stay the same")
	}
	return t.After, limit, query, nil
}

func nextToken(after, query string) string {
	raw, _ := json.Marshal(searchToken{After: after, Query: query})
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

// resource is the request's resource with its properties, read as an
// evaluation reads them (the registry's mapping for external types).
func (h *Handlers) resource(b *zSearch) (authz.Resource, error) {
	r := authz.Resource{Type: b.Resource.Type}
	if err := h.properties(&r, b.Resource.Properties, "resource.properties"); err != nil {
		return r, err
	}
	r.Type, r.ID = b.Resource.Type, b.Resource.ID
	return r, nil
}

// subjectID is the rulekeeper id of the request's subject (any id
// SubjectResolver knows).
func (h *Handlers) subjectID(c fiber.Ctx, b *zSearch) (string, error) {
	switch {
	case b.Subject == nil:
		return "", apierror.Field("missing_subject", "subject", "the subject is required")
	case b.Subject.Type == "":
		return "", apierror.Field("missing_subject", "subject.type", "subject.type is required")
	case b.Subject.ID == "":
		return "", apierror.Field("missing_subject", "subject.id", "subject.id is required")
	case b.Subject.Type != "user":
		return "", apierror.Field("unknown_subject_type", "subject.type", fmt.Sprintf("the subject type is user, not %q", b.Subject.Type))
	}
	return h.resolve(c.Context(), b.Subject.ID)
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
	sid, err := h.subjectID(c, b)
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
	after, limit, query, err := b.token(c.Body())
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
				next = nextToken(results[len(results)-1].ID, query)
				return c.JSON(zSearchAnswer{Page: zPage{NextToken: next, Count: len(results)}, Results: results})
			}
			results = append(results, zResult{Type: r.Type, ID: r.ID, Properties: map[string]any{"name": r.Name}})
		}
		if more == "" {
			break
		}
		after = more
	}
	return c.JSON(zSearchAnswer{Page: zPage{NextToken: next, Count: len(results)}, Results: results})
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// searchSubject answers the users (subject.type "user") or groups
// ("group") who may do the action on the resource, among those the caller
// may ask about, in rulekeeper id order. A user is answered by the id the
// identity provider knows (their subject, else their email), with the
// rulekeeper id, email and name in its properties. A group is answered
// when the group alone lets a member do it: the subject decided is an
// unstored one whose only attribute is membership of the group (so the
// license gates of platform types refuse it).
func (h *Handlers) searchSubject(c fiber.Ctx) error {
	if err := h.searchUnavailable(); err != nil {
		return err
	}
	b, env, err := h.searchBody(c)
	if err != nil {
		return err
	}
	switch {
	case b.Subject == nil:
		return apierror.Field("missing_subject", "subject", "the subject is required")
	case b.Subject.Type == "":
		return apierror.Field("missing_subject", "subject.type", "subject.type is required")
	case b.Subject.Type != "user" && b.Subject.Type != "group":
		return apierror.Field("unknown_subject_type", "subject.type", fmt.Sprintf("the subject type is user or group, not %q", b.Subject.Type))
	}
	action, err := h.checkAction(b)
	if err != nil {
		return err
	}
	if err := h.checkResourceType(b); err != nil {
		return err
	}
	res, err := h.resource(b)
	if err != nil {
		return err
	}
	after, limit, query, err := b.token(c.Body())
	if err != nil {
		return err
	}
	ctx := c.Context()
	results := []zResult{}
	// candidate decides one subject; ok false: skip it.
	type candidate struct {
		key     string // rulekeeper id: the order and the token
		ask     string // the id mayAsk is asked about
		subject authz.Subject
		result  zResult
	}
	batch := func(after string) ([]candidate, string, error) {
		var out []candidate
		if b.Subject.Type == "group" {
			gs, next, err := h.Search.GroupBatch(ctx, after, searchBatch)
			for _, g := range gs {
				out = append(out, candidate{key: g.ID, ask: "group:" + g.ID,
					subject: authz.Subject{ID: "group:" + g.ID, Groups: []string{g.Name}, GroupIDs: []string{g.ID}, Status: store.UserActive},
					result:  zResult{Type: "group", ID: g.ID, Properties: map[string]any{"name": g.Name}}})
			}
			return out, next, err
		}
		us, next, err := h.Search.UserBatch(ctx, after, searchBatch)
		for i := range us {
			u := &us[i]
			out = append(out, candidate{key: u.ID, ask: u.ID, subject: authz.Subject{ID: u.ID}, result: userResult(u)})
		}
		return out, next, err
	}
	for {
		cands, more, err := batch(after)
		if err != nil {
			return err
		}
		for _, cand := range cands {
			ok, err := h.mayAsk(c, cand.ask, env)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			d, err := h.Engine.Decide(ctx, authz.Request{Subject: cand.subject, Action: action, Resource: res, Environment: env})
			if err != nil {
				return decideError(err)
			}
			if !d.Allow {
				continue
			}
			if len(results) == limit {
				return c.JSON(zSearchAnswer{Page: zPage{NextToken: nextToken(after, query), Count: len(results)}, Results: results})
			}
			results = append(results, cand.result)
			after = cand.key
		}
		if more == "" {
			break
		}
		after = more
	}
	return c.JSON(zSearchAnswer{Page: zPage{Count: len(results)}, Results: results})
}

// userResult is a user as subject search answers it: by the id the
// identity provider knows.
func userResult(u *store.User) zResult {
	id := u.Subject
	if !u.Bound() {
		id = cmp.Or(u.Email, u.UserName, u.ID)
	}
	props := map[string]any{"rulekeeper_id": u.ID, "name": u.Name}
	if u.Email != "" {
		props["email"] = u.Email
	}
	return zResult{Type: "user", ID: id, Properties: props}
}

// searchAction answers the actions the subject may do on the resource,
// in name order: the actions of the resource's type.
func (h *Handlers) searchAction(c fiber.Ctx) error {
	b, env, err := h.searchBody(c)
	if err != nil {
		return err
	}
	sid, err := h.subjectID(c, b)
	if err != nil {
		return err
	}
	if err := h.checkResourceType(b); err != nil {
		return err
	}
	if b.Resource.ID == "" {
		return apierror.Field("missing_resource", "resource.id", "resource.id is required")
	}
	res, err := h.resource(b)
	if err != nil {
		return err
	}
	after, limit, query, err := b.token(c.Body())
	if err != nil {
		return err
	}
	lister, ok := h.Vocab.(interface{ Actions(typ string) []string })
	if !ok {
		return apierror.New(http.StatusNotImplemented, "search_unavailable", "the vocabulary cannot list its actions", nil)
	}
	// The actions of the resource's type (an external type has its own).
	actions := slices.Sorted(slices.Values(lister.Actions(res.Type)))
	if ok, err := h.mayAsk(c, sid, env); err != nil || !ok {
		return cmpErr(err, forbiddenSubject())
	}
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
			return c.JSON(zSearchAnswer{Page: zPage{NextToken: nextToken(results[len(results)-1].Name, query), Count: len(results)}, Results: results})
		}
		results = append(results, zResult{Name: a})
	}
	return c.JSON(zSearchAnswer{Page: zPage{Count: len(results)}, Results: results})
}
