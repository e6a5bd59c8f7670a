// Package scim serves SCIM 2.0 (RFC 7643 schemas, RFC 7644 protocol) at
// /scim/v2, so that an identity provider's provisioning keeps rulekeeper's
// users and groups in sync before and between logins: Users and Groups
// (create, get, replace, patch, delete, list with a filter and startIndex
// paging) and the discovery resources ServiceProviderConfig, ResourceTypes
// and Schemas. Callers authenticate like every API caller (an admin's
// bearer token or API key) and need the console rights a tenant admin has
// on users and groups.
//
// Mapping (User): id is the rulekeeper id; externalId the identity
// provider's subject (sub) — a login with that subject binds to the user;
// userName, displayName (else name.formatted, else given and family name),
// the primary (else first) email, active; roles[].value become the custom
// attribute "roles"; the enterprise extension's department, division,
// organization, costCenter, employeeNumber and manager.value become custom
// attributes of those names; the extension
// urn:rulekeeper:params:scim:schemas:extension:2.0:User carries every
// custom attribute ("attributes": {name: [values]}; on writes, the names
// above are taken from roles and the enterprise extension only). Groups are read-only
// on a User (RFC 7643 §4.1.2) and written through Group members.
//
// Errors answer RFC 7644 §3.12 bodies (schemas, status, scimType, detail)
// with Content-Type application/scim+json, the one exception to
// rulekeeper's {code, message, details}: SCIM clients read nothing else.
package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// Schema URNs.
const (
	UserSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	RulekeeperSchema = "urn:rulekeeper:params:scim:schemas:extension:2.0:User"
	ListSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	ErrorSchema      = "urn:ietf:params:scim:api:messages:2.0:Error"
	MediaType        = "application/scim+json"
)

// MaxResults is the largest page (count) a list answers.
const MaxResults = 1000

// enterpriseAttrs are the enterprise extension's attributes kept as custom
// attributes of the same name.
var enterpriseAttrs = []string{"department", "division", "organization", "costCenter", "employeeNumber"}

// Handlers serve /scim/v2.
type Handlers struct {
	Store      *store.Store
	Guard      *guard.Guard
	Provision  *users.Provisioner
	Invalidate func(kind, id string)
}

// Register mounts the routes on r (the /scim/v2 group); Errors must run
// before authentication so that refusals are SCIM errors too.
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/ServiceProviderConfig", h.serviceProviderConfig)
	r.Get("/ResourceTypes", h.resourceTypes)
	r.Get("/ResourceTypes/:name", h.resourceType)
	r.Get("/Schemas", h.schemas)
	r.Get("/Schemas/:id", h.schema)
	r.Get("/Users", h.listUsers)
	r.Post("/Users", h.createUser)
	r.Get("/Users/:id", h.getUser)
	r.Put("/Users/:id", h.replaceUser)
	r.Patch("/Users/:id", h.patchUser)
	r.Delete("/Users/:id", h.deleteUser)
	r.Get("/Groups", h.listGroups)
	r.Post("/Groups", h.createGroup)
	r.Get("/Groups/:id", h.getGroup)
	r.Put("/Groups/:id", h.replaceGroup)
	r.Patch("/Groups/:id", h.patchGroup)
	r.Delete("/Groups/:id", h.deleteGroup)
}

// Error is a SCIM error (RFC 7644 §3.12).
type Error struct {
	Status   int
	ScimType string // invalidFilter, uniqueness, invalidValue, invalidSyntax, noTarget, invalidPath, mutability, tooMany
	Detail   string
}

func (e *Error) Error() string { return fmt.Sprintf("scim %d %s: %s", e.Status, e.ScimType, e.Detail) }

func bad(scimType, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// Errors turns every error of the routes after it into a SCIM error body:
// SCIM errors as they are, rulekeeper's API errors with their status and
// message (409 user_exists and group_exists as scimType uniqueness).
func Errors(c fiber.Ctx) error {
	err := c.Next()
	if err == nil {
		return nil
	}
	var se *Error
	if !errors.As(err, &se) {
		e := apierror.From(err)
		se = &Error{Status: e.Status, Detail: e.Message}
		switch {
		case e.Status == http.StatusConflict && (e.Code == "user_exists" || e.Code == "group_exists"):
			se.ScimType = "uniqueness"
		case e.Status == http.StatusBadRequest:
			se.ScimType = "invalidValue"
		}
		if e.Status == http.StatusUnauthorized {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="rulekeeper"`)
		}
	}
	body := map[string]any{"schemas": []string{ErrorSchema}, "status": strconv.Itoa(se.Status), "detail": se.Detail}
	if se.ScimType != "" {
		body["scimType"] = se.ScimType
	}
	return send(c.Status(se.Status), body)
}

func send(c fiber.Ctx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, MediaType)
	return c.Send(b)
}

// decode reads a SCIM body: unknown attributes are ignored (RFC 7644
// §3.3 leaves them to the service provider), malformed JSON is
// invalidSyntax.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return bad("invalidSyntax", "the body is not the JSON expected: %v", err)
	}
	return nil
}

func (h *Handlers) require(c fiber.Ctx, action, typ string) error {
	return h.Guard.Require(c, guard.Console, action, authz.Resource{Type: typ})
}

func by(c fiber.Ctx) string { return identity.CallerOf(c).User.ID }

// base is the URL prefix of the SCIM resources, for meta.location.
func base(c fiber.Ctx) string { return c.BaseURL() + "/scim/v2" }

// meta is a resource's meta attribute.
func meta(c fiber.Ctx, typ, path string, created, modified time.Time, version int64) map[string]any {
	m := map[string]any{"resourceType": typ, "location": base(c) + path}
	if !created.IsZero() {
		m["created"] = created.UTC().Format(time.RFC3339)
	}
	if !modified.IsZero() {
		m["lastModified"] = modified.UTC().Format(time.RFC3339)
	}
	if version > 0 {
		m["version"] = fmt.Sprintf(`W/"%d"`, version)
	}
	return m
}

// paging reads startIndex (1-based; less than 1 is 1) and count (less
// than 0 is 0; more than MaxResults is MaxResults), RFC 7644 §3.4.2.4.
func paging(c fiber.Ctx) (start, count int, err error) {
	start, count = 1, 100
	if s := c.Query("startIndex"); s != "" {
		if start, err = strconv.Atoi(s); err != nil {
			return 0, 0, bad("invalidValue", "startIndex is an integer")
		}
		start = max(start, 1)
	}
	if s := c.Query("count"); s != "" {
		if count, err = strconv.Atoi(s); err != nil {
			return 0, 0, bad("invalidValue", "count is an integer")
		}
		count = min(max(count, 0), MaxResults)
	}
	return start, count, nil
}

// filter is a parsed `attribute eq "value"` (the only operator served).
type filter struct {
	attr, value string
}

// parseFilter reads a SCIM filter of the form `attr eq "value"`; attr is
// matched case-insensitively (RFC 7643 §2.1), the URN prefix of core
// attributes allowed.
func parseFilter(s string, allowed ...string) (*filter, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	attr, rest, ok := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	op, val, ok2 := strings.Cut(rest, " ")
	val = strings.TrimSpace(val)
	if !ok || !ok2 || !strings.EqualFold(op, "eq") {
		return nil, bad("invalidFilter", "the filter %q is not of the form attribute eq \"value\" (the only operator served)", s)
	}
	var v string
	if err := json.Unmarshal([]byte(val), &v); err != nil {
		return nil, bad("invalidFilter", "the filter's value %s is not a JSON string", val)
	}
	attr = strings.TrimPrefix(strings.TrimPrefix(attr, UserSchema+":"), GroupSchema+":")
	for _, a := range allowed {
		if strings.EqualFold(a, attr) {
			return &filter{attr: a, value: v}, nil
		}
	}
	return nil, bad("invalidFilter", "filtering on %q is not supported; filter on one of %s", attr, strings.Join(allowed, ", "))
}

func listResponse(total int64, start int, resources []map[string]any) map[string]any {
	return map[string]any{"schemas": []string{ListSchema}, "totalResults": total, "startIndex": start,
		"itemsPerPage": len(resources), "Resources": resources}
}

// ---- Users ----

// userResource is u as SCIM answers it.
func (h *Handlers) userResource(ctx context.Context, c fiber.Ctx, u *store.User) (map[string]any, error) {
	groups, err := h.Store.Groups.ByIDs(ctx, u.GroupIDs)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(groups, func(a, b store.Group) int { return strings.Compare(a.ID, b.ID) })
	gs := make([]map[string]any, 0, len(groups))
	for _, g := range groups {
		gs = append(gs, map[string]any{"value": g.ID, "display": g.Name, "$ref": base(c) + "/Groups/" + g.ID})
	}
	r := map[string]any{
		"schemas":     []string{UserSchema, EnterpriseSchema, RulekeeperSchema},
		"id":          u.ID,
		"userName":    cmpOr(u.UserName, u.Email, u.Subject),
		"displayName": u.Name,
		"name":        map[string]any{"formatted": u.Name},
		"active":      u.Status == store.UserActive,
		"groups":      gs,
		"meta":        meta(c, "User", "/Users/"+u.ID, u.CreatedAt, u.UpdatedAt, u.Version),
	}
	if u.Bound() {
		r["externalId"] = u.Subject
	}
	if u.Email != "" {
		r["emails"] = []map[string]any{{"value": u.Email, "primary": true, "type": "work"}}
	}
	if roles := u.Attributes["roles"]; len(roles) > 0 {
		rs := make([]map[string]any, 0, len(roles))
		for _, v := range roles {
			rs = append(rs, map[string]any{"value": v})
		}
		r["roles"] = rs
	}
	ent := map[string]any{}
	for _, a := range enterpriseAttrs {
		if v := u.Attributes[a]; len(v) > 0 {
			ent[a] = v[0]
		}
	}
	if v := u.Attributes["manager"]; len(v) > 0 {
		ent["manager"] = map[string]any{"value": v[0]}
	}
	r[EnterpriseSchema] = ent
	attrs := u.Attributes
	if attrs == nil {
		attrs = map[string][]string{}
	}
	r[RulekeeperSchema] = map[string]any{"attributes": attrs}
	return r, nil
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// scimUser is the part of a SCIM User this service reads.
type scimUser struct {
	UserName    string `json:"userName"`
	ExternalID  string `json:"externalId"`
	DisplayName string `json:"displayName"`
	Name        struct {
		Formatted  string `json:"formatted"`
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Emails []struct {
		Value   string `json:"value"`
		Primary bool   `json:"primary"`
	} `json:"emails"`
	Active *bool `json:"active"`
	Roles  []struct {
		Value string `json:"value"`
	} `json:"roles"`
	Enterprise map[string]any `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	Rulekeeper struct {
		Attributes map[string]any `json:"attributes"`
	} `json:"urn:rulekeeper:params:scim:schemas:extension:2.0:User"`
}

// spec maps a SCIM User to a provisioning spec.
func (s *scimUser) spec() (users.UserSpec, error) {
	if strings.TrimSpace(s.UserName) == "" {
		return users.UserSpec{}, bad("invalidValue", "userName is required")
	}
	spec := users.UserSpec{UserName: s.UserName, ExternalID: s.ExternalID, Active: s.Active, Attributes: map[string][]string{}}
	spec.Name = cmpOr(s.DisplayName, s.Name.Formatted, strings.TrimSpace(s.Name.GivenName+" "+s.Name.FamilyName))
	for _, e := range s.Emails {
		if e.Primary || spec.Email == "" {
			spec.Email = e.Value
		}
	}
	if spec.Email == "" && strings.Contains(s.UserName, "@") {
		spec.Email = s.UserName
	}
	for k, v := range s.Rulekeeper.Attributes {
		if k == "roles" || k == "manager" || slices.Contains(enterpriseAttrs, k) {
			continue // owned by roles and the enterprise extension
		}
		vals, err := values(v)
		if err != nil {
			return spec, bad("invalidValue", "attribute %q: %v", k, err)
		}
		spec.Attributes[k] = vals
	}
	if len(s.Roles) > 0 {
		roles := []string{}
		for _, r := range s.Roles {
			if r.Value != "" {
				roles = append(roles, r.Value)
			}
		}
		spec.Attributes["roles"] = roles
	}
	for _, a := range enterpriseAttrs {
		if v, ok := s.Enterprise[a]; ok {
			vals, err := values(v)
			if err != nil {
				return spec, bad("invalidValue", "%s: %v", a, err)
			}
			spec.Attributes[a] = vals
		}
	}
	if m, ok := s.Enterprise["manager"].(map[string]any); ok {
		if v, ok := m["value"].(string); ok && v != "" {
			spec.Attributes["manager"] = []string{v}
		}
	}
	for k, v := range spec.Attributes {
		if len(v) == 0 {
			delete(spec.Attributes, k)
		}
	}
	return spec, nil
}

// values reads an attribute value: a scalar or a list of scalars.
func values(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := []string{}
	for _, x := range list {
		switch y := x.(type) {
		case string:
			out = append(out, y)
		case bool, float64:
			b, _ := json.Marshal(y)
			out = append(out, string(b))
		case nil:
		default:
			return nil, errors.New("a value is a string, number, boolean or a list of them")
		}
	}
	return out, nil
}

func (h *Handlers) answerUser(c fiber.Ctx, u *store.User) error {
	return sendResource(c)(h.userResource(c.Context(), c, u))
}

// sendResource sends a resource representation, or its error.
func sendResource(c fiber.Ctx) func(map[string]any, error) error {
	return func(r map[string]any, err error) error {
		if err != nil {
			return err
		}
		return send(c, r)
	}
}

// load checks that the caller may do action on resources of typ and
// loads the one the path names (a SCIM 404 when there is none).
func load[T any](h *Handlers, c fiber.Ctx, action, typ string, get func(context.Context, string) (*T, error)) (*T, error) {
	if err := h.require(c, action, strings.ToLower(typ)); err != nil {
		return nil, err
	}
	v, err := get(c.Context(), c.Params("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("no %s has id %q", typ, c.Params("id"))}
	}
	return v, err
}

func (h *Handlers) user(c fiber.Ctx, action string) (*store.User, error) {
	return load(h, c, action, "User", h.Store.Users.Get)
}

func (h *Handlers) createUser(c fiber.Ctx) error {
	if err := h.require(c, "create", "user"); err != nil {
		return err
	}
	var su scimUser
	if err := decode(c.Body(), &su); err != nil {
		return err
	}
	spec, err := su.spec()
	if err != nil {
		return err
	}
	// userName is unique (RFC 7643 §4.1.1): one taken is a 409 uniqueness.
	if _, err := h.Store.Users.ByUserName(c.Context(), spec.UserName); err == nil {
		return &Error{Status: http.StatusConflict, ScimType: "uniqueness", Detail: fmt.Sprintf("a User with userName %q exists", spec.UserName)}
	}
	u, err := h.Provision.Create(c.Context(), spec, by(c))
	if err != nil {
		return err
	}
	c.Location(base(c) + "/Users/" + u.ID)
	c.Status(http.StatusCreated)
	return h.answerUser(c, u)
}

func (h *Handlers) getUser(c fiber.Ctx) error {
	u, err := h.user(c, "read")
	if err != nil {
		return err
	}
	return h.answerUser(c, u)
}

// replaceUser is PUT: the user becomes what the body says (attributes
// not given are cleared; groups, read-only here, stay).
func (h *Handlers) replaceUser(c fiber.Ctx) error {
	u, err := h.user(c, "update")
	if err != nil {
		return err
	}
	var su scimUser
	if err := decode(c.Body(), &su); err != nil {
		return err
	}
	nu, err := h.replace(c, u, &su)
	if err != nil {
		return err
	}
	return h.answerUser(c, nu)
}

func (h *Handlers) replace(c fiber.Ctx, u *store.User, su *scimUser) (*store.User, error) {
	spec, err := su.spec()
	if err != nil {
		return nil, err
	}
	ch := spec.Change()
	ch.Groups = nil // read-only on a User
	ch.Aliases = nil
	ch.License = nil
	if spec.ExternalID == "" && !u.Bound() {
		ch.ExternalID = nil
	} else if spec.ExternalID == "" {
		ch.ExternalID = nil // a bound subject is not unset by omission
	}
	return h.Provision.Update(c.Context(), u.ID, ch, by(c))
}

func (h *Handlers) patchUser(c fiber.Ctx) error {
	u, err := h.user(c, "update")
	if err != nil {
		return err
	}
	ops, err := patchOps(c.Body())
	if err != nil {
		return err
	}
	cur, err := h.userResource(c.Context(), c, u)
	if err != nil {
		return err
	}
	for i, op := range ops {
		if err := apply(cur, op); err != nil {
			return bad(scimTypeOf(err), "Operations[%d]: %v", i, err)
		}
	}
	raw, _ := json.Marshal(cur)
	var su scimUser
	if err := decode(raw, &su); err != nil {
		return err
	}
	nu, err := h.replace(c, u, &su)
	if err != nil {
		return err
	}
	return h.answerUser(c, nu)
}

func (h *Handlers) deleteUser(c fiber.Ctx) error {
	u, err := h.user(c, "delete")
	if err != nil {
		return err
	}
	if u.HasRole(identity.RoleTenantAdmin) {
		n, err := h.Store.Users.Count(c.Context(), store.UserFilter{Role: identity.RoleTenantAdmin, Status: store.UserActive})
		if err != nil {
			return err
		}
		if n <= 1 {
			return &Error{Status: http.StatusConflict, ScimType: "mutability", Detail: "the tenant needs at least one active tenant admin"}
		}
	}
	if err := h.Provision.Delete(c.Context(), u.ID, by(c)); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (h *Handlers) listUsers(c fiber.Ctx) error {
	return list(c, h, "user", []string{"userName", "externalId", "id", "emails.value", "emails"}, h.Store.Users.Offset,
		func(ctx context.Context, f *filter) ([]store.User, error) {
			var one *store.User
			var err error
			switch f.attr {
			case "userName":
				one, err = h.Store.Users.ByUserName(ctx, f.value)
			case "externalId":
				one, err = h.Store.Users.BySubject(ctx, f.value)
			case "id":
				one, err = h.Store.Users.Get(ctx, f.value)
			default:
				return h.Store.Users.ByEmail(ctx, f.value)
			}
			return listOf(one, err)
		},
		func(u *store.User) (map[string]any, error) { return h.userResource(c.Context(), c, u) })
}

// list answers GET /Users or /Groups: the caller must read typ; without a
// filter every resource a page at a time (startIndex, count), with one
// (on an attribute of attrs) those lookup finds, paged the same way; each
// answered as resource makes it.
func list[T any](c fiber.Ctx, h *Handlers, typ string, attrs []string,
	all func(ctx context.Context, skip, limit int) ([]T, int64, error),
	lookup func(ctx context.Context, f *filter) ([]T, error),
	resource func(*T) (map[string]any, error)) error {
	if err := h.require(c, "read", typ); err != nil {
		return err
	}
	f, err := parseFilter(c.Query("filter"), attrs...)
	if err != nil {
		return err
	}
	start, count, err := paging(c)
	if err != nil {
		return err
	}
	ctx := c.Context()
	var found []T
	var total int64
	if f == nil {
		if found, total, err = all(ctx, start-1, count); err != nil {
			return err
		}
	} else {
		if found, err = lookup(ctx, f); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		total = int64(len(found))
		found = found[min(start-1, len(found)):]
		found = found[:min(count, len(found))]
	}
	out := make([]map[string]any, 0, len(found))
	for i := range found {
		r, err := resource(&found[i])
		if err != nil {
			return err
		}
		out = append(out, r)
	}
	return send(c, listResponse(total, start, out))
}

// listOf is the one resource a lookup found, as a list (none for a miss).
func listOf[T any](one *T, err error) ([]T, error) {
	if one == nil || err != nil {
		return nil, err
	}
	return []T{*one}, nil
}
