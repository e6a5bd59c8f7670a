package decisionlog

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// Middleware remembers, for the entries of the request's decisions, the
// request's method, path, id and remote address. Mount it before the
// routes, only when the log is on: it costs two allocations per request
// (the context and the record together, and the copy of the request's
// id). The server runs Fiber with Immutable, so the strings are the
// request's own copies (the method is one of Fiber's constants, the
// address a new string).
func Middleware() fiber.Handler {
	return func(c fiber.Ctx) error {
		rc := &requestContext{Context: c.Context()}
		rc.r = request{method: c.Method(), path: c.Path(), id: c.GetRespHeader(fiber.HeaderXRequestID), remote: c.IP()}
		c.SetContext(rc)
		return c.Next()
	}
}

// requestContext is the request's context with its record: one object
// where context.WithValue and the record would be two.
type requestContext struct {
	context.Context
	r request
}

func (c *requestContext) Value(key any) any {
	if _, ok := key.(requestKey); ok {
		return &c.r
	}
	return c.Context.Value(key)
}

// OnRequest is an identity request hook: it names the authenticated caller
// in the entries of the request's decisions.
func OnRequest(ctx context.Context, u *store.User) error {
	if r := requestOf(ctx); r != nil && u != nil {
		r.caller = u.ID
	}
	return nil
}

// ResourceType is the type the guard decides GET /decisions on: the policy
// grants reading it to tenant admins in the console.
const ResourceType = "decisionlog"

// Handlers serve GET /decisions.
type Handlers struct {
	// Log is the stored log; nil when the log is not kept in the database
	// (off or stdout): the listing then answers 404 decision_log_not_stored.
	Log   *store.DecisionLog
	Guard *guard.Guard
}

// Register mounts the route on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/decisions", h.list)
}

var params = []string{"subject", "resource", "since", "limit", "cursor", "next"}

const maxFilterLen = 200

func (h *Handlers) list(c fiber.Ctx) error {
	f, err := filter(c)
	if err != nil {
		return err
	}
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: ResourceType}); err != nil {
		return err
	}
	if h.Log == nil {
		return apierror.New(http.StatusNotFound, "decision_log_not_stored",
			"the decision log is not kept in the database: start rulekeeper with --decision-log=mongo", nil)
	}
	recs, next, err := h.Log.List(c.Context(), f, p)
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		items[i] = json.RawMessage(r.Entry)
	}
	return listing.JSON(c, items, next)
}

// filter reads the query: subject (a user id), resource (type:id, type:*
// or an id of any type), since (RFC 3339); unknown parameters are refused.
func filter(c fiber.Ctx) (store.DecisionFilter, error) {
	var f store.DecisionFilter
	if err := listing.KnownParams(c, params); err != nil {
		return f, err
	}
	texts, err := listing.Texts(c, maxFilterLen, "subject", "resource")
	if err != nil {
		return f, err
	}
	f.SubjectID = texts[0]
	if res := texts[1]; res != "" {
		typ, id, ok := strings.Cut(res, ":")
		switch {
		case !ok:
			f.ResourceID = res
		case typ == "":
			return f, apierror.Field("bad_resource", "resource", "resource is type:id, type:* or an id, e.g. app:42")
		default:
			f.ResourceType = typ
			if id != "*" {
				f.ResourceID = id
			}
		}
	}
	if f.Since, err = listing.Time(c, "since"); err != nil {
		return f, err
	}
	return f, nil
}
