package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// MaxBatch is the largest number of resources one batch call writes.
const MaxBatch = 1000

// Limits of a stored resource.
const (
	MaxIDLen    = 256
	MaxValueLen = 4096
	MaxListLen  = 1000
)

// Resources serve /resources/{type}/{id}: resources of external types
// stored in rulekeeper, which decisions hydrate by id (inline properties
// win over them) and resource searches list, filtered in the database.
type Resources struct {
	Store      *store.Store
	Guard      *guard.Guard
	Types      *authz.Types
	Invalidate func(kind, id string) // the engine's entity cache
	// Owners resolves a resource's owner, named by any id of the user
	// (IdP subject, userName, alias, email), to the rulekeeper id it is
	// stored with (nil: stored as given); an entities.Source.
	Owners interface {
		Owner(ctx context.Context, ref string) (string, error)
	}
	// Planner, Lists and MaxDecisions serve GET /resources/{type}?action=:
	// the resources the caller may act on, planned like app lists.
	Planner      *authz.Planner
	Lists        *pushdown.Metrics
	MaxDecisions int
}

// Register mounts the routes on r (already authenticated).
func (h *Resources) Register(r fiber.Router) {
	r.Get("/resources/:type", h.list)
	r.Post("/resources/:type\\:batch", h.batch)
	r.Get("/resources/:type/:id", h.get)
	r.Put("/resources/:type/:id", h.put)
	r.Delete("/resources/:type/:id", h.delete)
}

func guarded(typ, id string) authz.Resource {
	return authz.Resource{Type: "externalresource", ID: store.ResourceKey(typ, id)}
}

// externalType is the registry's type of the path, or 404 naming the
// external types there are.
func (h *Resources) externalType(typ string) (authz.ExternalType, error) {
	e, ok := h.Types.External(typ)
	if ok {
		return e, nil
	}
	names := []string{}
	for _, x := range h.Types.Externals() {
		names = append(names, x.Name)
	}
	msg := fmt.Sprintf("%q is not an external resource type; the registry has %s", typ, strings.Join(names, ", "))
	if len(names) == 0 {
		msg = fmt.Sprintf("%q is not an external resource type; the registry has none (POST /api/v1/types)", typ)
	}
	if h.Types.Builtin(typ) {
		msg = fmt.Sprintf("%q is a built-in type: rulekeeper stores its resources itself", typ)
	}
	return e, apierror.New(http.StatusNotFound, "unknown_resource_type", msg, map[string]any{"field": "type", "known": names})
}

// resourceBody is a stored resource as clients send it.
type resourceBody struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name"`
	Owner      string                     `json:"owner"`
	OwnerID    string                     `json:"ownerId"`
	SpaceID    string                     `json:"spaceId"`
	Attributes map[string]json.RawMessage `json:"attributes"`
	// Accepted and ignored, so that a GET answer can be sent back.
	Type      string `json:"type"`
	Version   int64  `json:"version"`
	UpdatedAt string `json:"updatedAt"`
	UpdatedBy string `json:"updatedBy"`
}

// fieldError is one problem of one resource (per-item in a batch).
type fieldError struct {
	Index   int    `json:"index"`
	ID      string `json:"id,omitempty"`
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *fieldError) Error() string { return e.Message }

// resource checks b as a resource id of type t: declared attributes of
// their kind, nothing undeclared. prefix names b in errors.
func resource(t authz.ExternalType, id string, b *resourceBody, prefix string) (*store.ExternalResource, *fieldError) {
	bad := func(field, code, format string, args ...any) *fieldError {
		return &fieldError{ID: id, Field: prefix + field, Code: code, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case id == "":
		return nil, bad("id", "missing_id", "the resource needs an id")
	case len(id) > MaxIDLen || strings.ContainsAny(id, "/\x00"):
		return nil, bad("id", "bad_id", "an id has 1 to %d characters and no / or NUL", MaxIDLen)
	case b.Type != "" && b.Type != t.Name:
		return nil, bad("type", "type_mismatch", "the body says type %q, the path %q", b.Type, t.Name)
	case b.ID != "" && b.ID != id:
		return nil, bad("id", "id_mismatch", "the body says id %q, the path %q", b.ID, id)
	case b.Owner != "" && b.OwnerID != "" && b.Owner != b.OwnerID:
		return nil, bad("owner", "owner_mismatch", "owner and ownerId differ")
	case len(b.Name) > MaxValueLen:
		return nil, bad("name", "too_long", "the name has more than %d characters", MaxValueLen)
	}
	x := &store.ExternalResource{Type: t.Name, ID: id, Name: b.Name, Owner: b.Owner, SpaceID: b.SpaceID,
		Attributes: map[string]any{}, Values: map[string][]string{}}
	if x.Owner == "" {
		x.Owner = b.OwnerID
	}
	declared := map[string]authz.TypeAttribute{}
	names := []string{}
	for _, a := range t.Attributes {
		declared[strings.ToLower(a.Name)] = a
		names = append(names, a.Name)
	}
	for name, raw := range b.Attributes {
		f := "attributes." + name
		a, ok := declared[strings.ToLower(name)]
		if !ok {
			return nil, bad(f, "unknown_attribute", "type %s has no attribute %q; it has %s", t.Name, name, strings.Join(names, ", "))
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, bad(f, "wrong_type", "%s is not JSON", f)
		}
		if err := authz.CheckKind(a.Kind, v); err != nil {
			return nil, bad(f, "wrong_kind", "%s: %v", f, err)
		}
		vals, err := authz.AttributeValues(v)
		if err != nil {
			return nil, bad(f, "wrong_type", "%s: %v", f, err)
		}
		if len(vals) > MaxListLen {
			return nil, bad(f, "too_long", "%s has more than %d values", f, MaxListLen)
		}
		for _, s := range vals {
			if len(s) > MaxValueLen {
				return nil, bad(f, "too_long", "a value of %s has more than %d characters", f, MaxValueLen)
			}
		}
		if n, ok := v.(json.Number); ok {
			// Stored as a number, answered as the number sent.
			if fl, err := n.Float64(); err == nil {
				v = fl
			}
		}
		x.Attributes[a.Name], x.Values[a.Name] = v, vals
	}
	return x, nil
}

func (e *fieldError) api() error {
	return apierror.New(http.StatusBadRequest, e.Code, e.Message, map[string]any{"field": e.Field})
}

func (h *Resources) get(c fiber.Ctx) error {
	typ, id := c.Params("type"), c.Params("id")
	if _, err := h.externalType(typ); err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "read", guarded(typ, id)); err != nil {
		return err
	}
	x, err := h.Store.ExternalResources.Get(c.Context(), typ, id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(x.Version))
	return c.JSON(x)
}

func (h *Resources) put(c fiber.Ctx) error {
	typ, id := c.Params("type"), c.Params("id")
	t, err := h.externalType(typ)
	if err != nil {
		return err
	}
	var b resourceBody
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "update", guarded(typ, id)); err != nil {
		return err
	}
	want, err := ifMatch(c)
	if err != nil {
		return err
	}
	x, fe := resource(t, id, &b, "")
	if fe != nil {
		return fe.api()
	}
	if x.Owner, err = h.owner(c.Context(), x.Owner); err != nil {
		return err
	}
	x.UpdatedBy = identity.CallerOf(c).User.ID
	out, err := h.Store.ExternalResources.Put(c.Context(), x, want)
	switch {
	case errors.Is(err, store.ErrConflict):
		return apierror.New(http.StatusPreconditionFailed, "stale_version", "the resource changed since you read it", map[string]any{"field": "If-Match"})
	case err != nil:
		return err
	}
	h.changed(typ, id)
	c.Set(fiber.HeaderETag, etag(out.Version))
	status := http.StatusOK
	if out.Version == 1 {
		status = http.StatusCreated
	}
	return c.Status(status).JSON(out)
}

// owner is the rulekeeper id of the user ref names (ref itself when it
// names none).
func (h *Resources) owner(ctx context.Context, ref string) (string, error) {
	if h.Owners == nil || ref == "" {
		return ref, nil
	}
	return h.Owners.Owner(ctx, ref)
}

func (h *Resources) changed(typ, id string) {
	if h.Invalidate != nil {
		h.Invalidate(typ, id)
	}
}

func (h *Resources) delete(c fiber.Ctx) error {
	typ, id := c.Params("type"), c.Params("id")
	if _, err := h.externalType(typ); err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "delete", guarded(typ, id)); err != nil {
		return err
	}
	if err := h.Store.ExternalResources.Delete(c.Context(), typ, id); err != nil {
		return err
	}
	h.changed(typ, id)
	return c.SendStatus(http.StatusNoContent)
}

// batchBody is POST /resources/{type}:batch.
type batchBody struct {
	Items []resourceBody `json:"items"`
}

// batch writes up to MaxBatch resources of one type, all or nothing as
// far as validation goes: one bad item refuses the call, every bad item
// named in details.errors (index, id, field, code, message).
func (h *Resources) batch(c fiber.Ctx) error {
	typ := c.Params("type")
	t, err := h.externalType(typ)
	if err != nil {
		return err
	}
	var b batchBody
	if err := apierror.DecodeJSON(c.Body(), &b); err != nil {
		return err
	}
	switch {
	case len(b.Items) == 0:
		return apierror.Field("missing_items", "items", "list the resources to write in items")
	case len(b.Items) > MaxBatch:
		return apierror.New(http.StatusBadRequest, "batch_too_large", fmt.Sprintf("at most %d resources in one call", MaxBatch),
			map[string]any{"field": "items", "max": MaxBatch, "got": len(b.Items)})
	}
	if err := h.Guard.Require(c, guard.Console, "update", guarded(typ, "*")); err != nil {
		return err
	}
	by := identity.CallerOf(c).User.ID
	xs := make([]store.ExternalResource, 0, len(b.Items))
	errs := []*fieldError{}
	seen := map[string]int{}
	for i := range b.Items {
		it := &b.Items[i]
		prefix := fmt.Sprintf("items[%d].", i)
		x, fe := resource(t, it.ID, it, prefix)
		if fe == nil {
			if j, dup := seen[it.ID]; dup {
				fe = &fieldError{ID: it.ID, Field: prefix + "id", Code: "duplicate_id", Message: fmt.Sprintf("id %q is also items[%d]", it.ID, j)}
			}
		}
		if fe != nil {
			fe.Index = i
			errs = append(errs, fe)
			continue
		}
		seen[it.ID] = i
		if x.Owner, err = h.owner(c.Context(), x.Owner); err != nil {
			return err
		}
		x.UpdatedBy = by
		xs = append(xs, *x)
	}
	if len(errs) > 0 {
		return apierror.New(http.StatusBadRequest, "invalid_items",
			fmt.Sprintf("%d of %d items are invalid; nothing was written (first: %s)", len(errs), len(b.Items), errs[0].Message),
			map[string]any{"field": errs[0].Field, "errors": errs})
	}
	if err := h.Store.ExternalResources.PutMany(c.Context(), xs); err != nil {
		return err
	}
	for i := range xs {
		h.changed(typ, xs[i].ID)
	}
	return c.JSON(fiber.Map{"written": len(xs)})
}

// list answers the stored resources of a type: all of them (for those
// who may read stored resources), or with ?action= and optionally
// ?subject= (TenantAdmin or AuthzClient for another subject) only those
// the subject may act on — planned like app lists, the filter pushed down
// to the database.
func (h *Resources) list(c fiber.Ctx) error {
	typ := c.Params("type")
	if _, err := h.externalType(typ); err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "read", guarded(typ, "*")); err != nil {
		return err
	}
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	filter := authz.Everything()
	allowed := func(context.Context, *store.ExternalResource) (bool, error) { return true, nil }
	if action := c.Query("action"); action != "" {
		if err := h.Types.Check(typ, action); err != nil {
			var te *authz.TypeError
			errors.As(err, &te)
			return apierror.New(http.StatusBadRequest, te.Code, te.Message, map[string]any{"field": "action", "known": te.Known})
		}
		subject := strings.Clone(c.Query("subject", identity.CallerOf(c).User.ID))
		if subject != identity.CallerOf(c).User.ID {
			if err := h.Guard.Require(c, guard.Console, "read", authz.Resource{Type: "decision", ID: subject}); err != nil {
				return err
			}
		}
		env := c.Query("environment", guard.Hub)
		if env != guard.Hub && env != guard.Console {
			return apierror.Field("bad_environment", "environment", "the environment is hub or console")
		}
		if h.Planner != nil {
			if filter, err = h.Planner.Plan(c.Context(), authz.PlanRequest{Subject: subject, Action: action,
				Environments: []string{env}, Resource: authz.Resource{Type: typ}}); err != nil {
				return fmt.Errorf("plan %s of %s: %w", action, typ, err)
			}
		} else {
			filter = authz.Opaque("no planner")
		}
		// What the plan cannot express is decided item by item.
		allowed = func(ctx context.Context, x *store.ExternalResource) (bool, error) {
			d, err := h.Guard.Engine.Decide(ctx, authz.Request{Subject: authz.Subject{ID: subject}, Action: action,
				Resource: *entities.ExternalResource(x), Environment: env})
			return d.Allow, err
		}
	}
	items, next, err := pushdown.List(c.Context(), pushdown.Query[store.ExternalResource]{
		Resource: typ, Filter: filter, Fields: pushdown.ExternalFields(typ),
		Fetch: func(ctx context.Context, f bson.D, after string, limit int) ([]store.ExternalResource, error) {
			return h.Store.ExternalResources.Scan(ctx, typ, f, after, limit)
		},
		ID:      func(x *store.ExternalResource) string { return x.ID },
		Allowed: allowed,
		Limit:   p.Limit, Cursor: p.Cursor, Metrics: h.Lists, MaxDecisions: h.MaxDecisions,
	})
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}
