// Package identity authenticates every API request: OIDC bearer tokens
// verified by package idp (go-oidc) or rulekeeper API keys, and the login
// that a subject's new token triggers — user created or updated, groups
// discovered, roles taken from the IdP's roles claim, the operator's
// bootstrap admins made tenant admins, events written. Refused tokens are
// logged (reason only, rate-limited). The caller is put on the request for
// the handlers.
package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v3"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Roles a tenant admin can assign (seed 000 §4, seed 004 admin roles).
const (
	RoleTenantAdmin = "TenantAdmin"
	RoleDeveloper   = "Developer"
	RoleAuthzClient = "AuthzClient"
)

// AssignableRoles lists every role a tenant admin may give or take.
var AssignableRoles = []string{
	RoleTenantAdmin, RoleDeveloper, RoleAuthzClient,
	"RootAdmin", "ContentAdmin", "SecurityAdmin", "AuditAdmin", "HubAdmin",
}

// EventSource is the source of identity events.
const EventSource = "com.rulekeeper/identity"

// TokenVerifier verifies an OIDC token (idp.Verifier in production).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (idp.Identity, error)
}

// Caller is the authenticated user of a request.
type Caller struct {
	User     *store.User
	APIKeyID string // set when the request came with an API key
}

// LoginHook runs after a login created or updated a user (dynamic license
// assignment hangs here).
type LoginHook func(ctx context.Context, u *store.User, created bool) error

// RequestHook runs on every authenticated request (analyzer capacity
// metering hangs here).
type RequestHook func(ctx context.Context, u *store.User) error

// Authenticator resolves credentials to callers.
type Authenticator struct {
	store     *store.Store
	verifier  TokenVerifier
	logger    *slog.Logger
	onLogin   []LoginHook
	onRequest []RequestHook
	// sessions remembers tokens already verified and logged in, by hash,
	// until they expire, so a token costs one verification and one login.
	sessions *lru.Cache[[32]byte, session]
	// invalidate is told about every user the login changed.
	invalidate func(kind, id string)
	// keys remembers API keys verified against the store, by secret hash,
	// for KeyCacheTTL: a key then costs no store read. Only successes are
	// kept; ForgetKey, ForgetUser and ForgetKeys drop entries at once, and
	// keyGen (bumped by them) stops a lookup that raced with one from
	// storing what it read before.
	keys    *lru.Cache[[32]byte, keyEntry]
	keyGen  atomic.Int64
	keysTTL time.Duration
	// keyFlight shares one store lookup between concurrent requests with
	// one key; keyRefreshing marks the background reloads under way.
	keyFlight     singleflight.Group
	keyRefreshing sync.Map

	usersByEmail func(ctx context.Context, email string) ([]string, error)
	userByID     func(ctx context.Context, id string) (*store.User, bool, error)
	roleMap      map[string]string
	bootstrap    []string
	firstLogin   bool
	refusals     *refusalLog
}

// KeyCacheTTL bounds how long a verified API key, its owner and the
// tenant's API key switch are reused without reading the store. Writes
// through this process (revoking or deleting the key, changing its owner,
// switching API keys off) drop the entry before they answer; the TTL is how
// long another replica's write can go unseen here. A key's expiry is
// checked on every request against the cached expiry time, so an expired
// key stops working at its expiry exactly.
const KeyCacheTTL = 2 * time.Second

type keyEntry struct {
	key   store.APIKey
	user  store.User
	until time.Time
}

type session struct {
	userID  string
	expires time.Time
}

// Config configures an Authenticator.
type Config struct {
	Store      *store.Store
	Verifier   TokenVerifier
	Logger     *slog.Logger
	OnLogin    []LoginHook
	OnRequest  []RequestHook
	Invalidate func(kind, id string)
	// UsersByEmail answers the ids of the users with an email (any case)
	// without a query (the in-memory user index): a new user's login asks
	// it, and the store's ByEmail decodes every user on the embedded
	// server. nil asks the store.
	UsersByEmail func(ctx context.Context, email string) ([]string, error)
	// UserByID answers the user with an id from memory (the in-memory
	// user index, which follows the change log: a change made on another
	// replica is seen within the staleness bound, one made here at once),
	// shared and never changed by the caller; ok false when it does not
	// hold the user. Every request with a known token reads its user
	// again (a disabled user, a role taken away): through it, that read
	// is a map lookup instead of a query (≈ 0.6 ms of the embedded
	// server's CPU per request). nil asks the store.
	UserByID func(ctx context.Context, id string) (u *store.User, ok bool, err error)
	// KeyCacheTTL: 0 is KeyCacheTTL; negative disables the API key cache.
	KeyCacheTTL time.Duration
	// RoleMap maps IdP role names (of the verifier's roles claim) to
	// rulekeeper roles; see ParseRoleMap. IdP roles that are neither mapped
	// nor named like a rulekeeper role are ignored.
	RoleMap map[string]string
	// BootstrapAdmins are subjects or email addresses (case-insensitive)
	// made TenantAdmin at their first login after being listed (once: an
	// admin may take the role away again).
	BootstrapAdmins []string
	// BootstrapFirstLogin makes the first user to log in TenantAdmin, when
	// no BootstrapAdmins are configured and no TenantAdmin exists. Off by
	// default: any valid token — even a service's — would become admin.
	BootstrapFirstLogin bool
}

// New builds an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Store == nil || cfg.Verifier == nil || cfg.Logger == nil {
		return nil, errors.New("identity: Store, Verifier and Logger are required")
	}
	sessions, err := lru.New[[32]byte, session](100_000)
	if err != nil {
		return nil, err
	}
	keys, err := lru.New[[32]byte, keyEntry](10_000)
	if err != nil {
		return nil, err
	}
	inv := cfg.Invalidate
	if inv == nil {
		inv = func(string, string) {}
	}
	ttl := cfg.KeyCacheTTL
	if ttl == 0 {
		ttl = KeyCacheTTL
	}
	var boot []string
	for _, b := range cfg.BootstrapAdmins {
		if b = strings.TrimSpace(b); b != "" {
			boot = append(boot, b)
		}
	}
	return &Authenticator{store: cfg.Store, verifier: cfg.Verifier, logger: cfg.Logger,
		onLogin: cfg.OnLogin, onRequest: cfg.OnRequest, sessions: sessions, invalidate: inv,
		keys: keys, keysTTL: ttl, usersByEmail: cfg.UsersByEmail, userByID: cfg.UserByID, roleMap: cfg.RoleMap, bootstrap: boot, firstLogin: cfg.BootstrapFirstLogin,
		refusals: newRefusalLog(cfg.Logger)}, nil
}

// ForgetKey drops the cached verification of the API key with id (call it
// after revoking or deleting the key, before answering).
func (a *Authenticator) ForgetKey(id string) {
	a.keyGen.Add(1)
	for _, h := range a.keys.Keys() {
		if e, ok := a.keys.Peek(h); ok && e.key.ID == id {
			a.keys.Remove(h)
		}
	}
}

// ForgetUser drops the cached API keys owned by user id (call it after
// every change of the user: status, roles, deletion).
func (a *Authenticator) ForgetUser(id string) {
	a.keyGen.Add(1)
	for _, h := range a.keys.Keys() {
		if e, ok := a.keys.Peek(h); ok && e.key.OwnerID == id {
			a.keys.Remove(h)
		}
	}
}

// ForgetKeys drops every cached API key (call it after a change of the
// tenant settings, which switch API keys on and off).
func (a *Authenticator) ForgetKeys() {
	a.keyGen.Add(1)
	a.keys.Purge()
}

type callerKey struct{}

// CallerOf returns the request's caller; nil on routes without Middleware.
func CallerOf(c fiber.Ctx) *Caller {
	v, _ := c.Locals(callerKey{}).(*Caller)
	return v
}

// Middleware authenticates the request or answers 401 (no or bad
// credentials), 403 user_disabled, or 503 when the issuer is unreachable.
func (a *Authenticator) Middleware() fiber.Handler {
	return func(c fiber.Ctx) error {
		caller, err := a.Authenticate(c.Context(), authorization(c))
		if err != nil {
			return err
		}
		for _, hook := range a.onRequest {
			if err := hook(c.Context(), caller.User); err != nil {
				return err
			}
		}
		// Fiber's c.Locals(key, value) without its variadic argument's
		// allocation; CallerOf reads it with c.Locals.
		c.RequestCtx().SetUserValue(callerKey{}, caller)
		return c.Next()
	}
}

// authorization is the request's Authorization header, read in place: it
// aliases the request's buffer, so nothing may keep it. An API key's
// secret is hashed and never kept; a token is hashed to find its session,
// and copied only when it is verified (it goes on to the verifier and
// the login): a request with a known key or token copies nothing of it.
func authorization(c fiber.Ctx) string {
	h := c.Request().Header.Peek(fiber.HeaderAuthorization)
	return unsafe.String(unsafe.SliceData(h), len(h))
}

// Authenticate resolves an Authorization header value.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (*Caller, error) {
	scheme, raw, ok := strings.Cut(header, " ")
	if header == "" {
		return nil, apierror.Unauthorized("missing_credentials", "send Authorization: Bearer <token or API key>")
	}
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, apierror.Unauthorized("bad_credentials", "the Authorization header must be \"Bearer <token>\"")
	}
	var caller *Caller
	var err error
	if idp.LooksLikeAPIKey(raw) {
		caller, err = a.apiKey(ctx, raw)
	} else {
		caller, err = a.token(ctx, raw)
	}
	if err != nil {
		return nil, err
	}
	if caller.User.Status == store.UserDisabled {
		return nil, apierror.New(http.StatusForbidden, "user_disabled",
			fmt.Sprintf("user %q is disabled", caller.User.Name), map[string]any{"userId": caller.User.ID})
	}
	return caller, nil
}

func (a *Authenticator) token(ctx context.Context, raw string) (*Caller, error) {
	key := secretSum(raw)
	if s, ok := a.sessions.Get(key); ok && time.Now().Before(s.expires) {
		c, err := a.sessionCaller(ctx, s.userID)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		a.sessions.Remove(key)
	}
	raw = strings.Clone(raw) // the caller's may alias the request's buffer
	id, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		a.refusals.log(ctx, err)
		var ie *idp.Error
		if errors.As(err, &ie) {
			if ie.Unavailable() {
				return nil, apierror.New(http.StatusServiceUnavailable, ie.Code, ie.Message, nil)
			}
			return nil, apierror.Unauthorized(ie.Code, ie.Message)
		}
		return nil, apierror.Unauthorized("token_invalid", "the token could not be verified")
	}
	u, err := a.Login(ctx, id)
	if err != nil {
		return nil, err
	}
	exp := id.Expiry
	if exp.IsZero() {
		exp = time.Now().Add(5 * time.Minute)
	}
	a.sessions.Add(key, session{userID: u.ID, expires: exp})
	return &Caller{User: u}, nil
}

func (a *Authenticator) apiKey(ctx context.Context, raw string) (*Caller, error) {
	sum := secretSum(raw)
	now := time.Now()
	// Peek, not Get: a hit takes the read lock and moves nothing, so
	// concurrent requests with one key do not queue on the LRU's mutex.
	// A key in use is re-added (to the front) by its refresh below.
	if e, ok := a.keys.Peek(sum); ok {
		if now.Before(e.until) && e.key.Status(now) == store.KeyActive {
			// Refresh-ahead: a key in steady use is read again in the
			// background in the second half of its life, so its requests
			// never wait for the store; an entry is never served older
			// than keysTTL.
			if e.until.Sub(now) < a.keysTTL/2 {
				a.refreshKey(ctx, sum)
			}
			return newCaller(&e.user, e.key.ID), nil
		}
		// Stale or expired: the store gives the exact answer.
		a.keys.Remove(sum)
	}
	return a.apiKeyFromStore(ctx, sum)
}

// apiKeyFromStore looks the key up in the store: concurrent requests with
// one key share one lookup (never one that began before a ForgetKey*: the
// flight is keyed by keyGen too). Apart from apiKey so that a cached key's
// sum stays on apiKey's stack.
func (a *Authenticator) apiKeyFromStore(ctx context.Context, sum [32]byte) (*Caller, error) {
	flight := hex.EncodeToString(sum[:]) + "/" + strconv.FormatInt(a.keyGen.Load(), 10)
	// The shared lookup outlives any one caller (up to keyLoadTimeout);
	// each caller waits only until its own deadline (a paused database
	// answers 503, not after the driver's timeouts).
	ch := a.keyFlight.DoChan(flight, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyLoadTimeout)
		defer cancel()
		return a.loadKey(lctx, sum)
	})
	var r singleflight.Result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("look up the API key: %w", ctx.Err())
	}
	if r.Err != nil {
		return nil, r.Err
	}
	e := r.Val.(keyEntry)
	return newCaller(&e.user, e.key.ID), nil
}

// callerWithUser is a Caller and its copy of the user, allocated together.
type callerWithUser struct {
	Caller
	user store.User
}

// newCaller is a caller with its own copy of u (the request's to keep and
// change), one allocation.
func newCaller(u *store.User, apiKeyID string) *Caller {
	c := &callerWithUser{user: *u}
	c.Caller = Caller{User: &c.user, APIKeyID: apiKeyID}
	return &c.Caller
}

// sessionCaller is the caller of a known session, user id: from UserByID
// when it holds the user (a copy: the caller's to keep, allocated with
// the Caller), from the store otherwise.
func (a *Authenticator) sessionCaller(ctx context.Context, id string) (*Caller, error) {
	if a.userByID != nil {
		u, ok, err := a.userByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			return newCaller(u, ""), nil
		}
	}
	u, err := a.store.Users.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Caller{User: u}, nil
}

// keyLoadTimeout bounds one shared API key lookup.
const keyLoadTimeout = 5 * time.Second

// refreshKey reloads the entry of sum in the background unless a reload
// is under way; a reload that refuses the key drops the entry, so the next
// request gets the store's exact answer.
func (a *Authenticator) refreshKey(ctx context.Context, sum [32]byte) {
	if _, busy := a.keyRefreshing.LoadOrStore(sum, struct{}{}); busy {
		return
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer a.keyRefreshing.Delete(sum)
		if _, err := a.loadKey(ctx, sum); err != nil {
			a.keys.Remove(sum)
		}
	}()
}

// secretSum is the SHA-256 of an API key's secret, whose hex is the stored
// hash (idp.HashAPIKeySecret), or of a token, computed without a copy: the
// key of the verified keys and of the sessions, so that a request with a
// known key or token allocates nothing for it.
func secretSum(secret string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(secret), len(secret)))
}

// loadKey checks the key with secret hash sum against the store (the key,
// the tenant's switch, the owner) and caches a success.
func (a *Authenticator) loadKey(ctx context.Context, sum [32]byte) (keyEntry, error) {
	hash := hex.EncodeToString(sum[:])
	now := time.Now()
	gen := a.keyGen.Load()
	k, err := a.store.APIKeys.ByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return keyEntry{}, apierror.Unauthorized("api_key_invalid", "the API key is not known")
	}
	if err != nil {
		return keyEntry{}, err
	}
	if !idp.EqualHash(k.Hash, hash) {
		return keyEntry{}, apierror.Unauthorized("api_key_invalid", "the API key is not known")
	}
	switch k.Status(time.Now()) {
	case store.KeyRevoked:
		return keyEntry{}, apierror.Unauthorized("api_key_revoked", "the API key was revoked")
	case store.KeyExpired:
		return keyEntry{}, apierror.Unauthorized("api_key_expired", "the API key has expired")
	}
	settings, err := a.store.Settings.Get(ctx)
	if err != nil {
		return keyEntry{}, err
	}
	if !settings.APIKeysEnabled {
		return keyEntry{}, apierror.Unauthorized("api_keys_disabled", "API keys are switched off for this tenant")
	}
	u, err := a.store.Users.Get(ctx, k.OwnerID)
	if err != nil {
		return keyEntry{}, err
	}
	// Only developers hold API keys: a key stops working when its owner
	// loses the role (and works again if it comes back, unless revoked).
	if !u.HasRole(RoleDeveloper) {
		return keyEntry{}, apierror.Unauthorized("api_key_owner_not_developer", "the API key's owner no longer has the Developer role")
	}
	e := keyEntry{key: *k, user: *u, until: now.Add(a.keysTTL)}
	if a.keysTTL > 0 && u.Status != store.UserDisabled && a.keyGen.Load() == gen {
		a.keys.Add(sum, e)
	}
	return e, nil
}

// Login creates or updates the user of a verified identity: name, email and
// groups follow the token; groups are created only when the tenant setting
// says so (seed 000 §12); roles follow the IdP's roles claim when one is
// configured (through RoleMap); bootstrap admins (and, when enabled, the
// very first user) become TenantAdmin. Every role change is an event and a
// log line. It writes a user-session.begin event. Concurrent first logins
// of one subject create one user (the unique index on subject decides).
func (a *Authenticator) Login(ctx context.Context, id idp.Identity) (*store.User, error) {
	if id.Subject == "" {
		return nil, apierror.Unauthorized("token_invalid", "the token has no subject")
	}
	settings, err := a.store.Settings.Get(ctx)
	if err != nil {
		return nil, err
	}
	// A token without a groups claim says nothing about groups: keep them.
	var groupIDs []string
	if id.Groups != nil {
		if groupIDs, err = a.groupIDs(ctx, id.Groups, settings.AutoCreateGroups); err != nil {
			return nil, err
		}
	}
	name := id.Name
	if name == "" {
		name = id.Subject
	}
	// Likewise roles: nil when no roles claim is configured or present.
	idpRoles := a.mapRoles(ctx, id.Roles)
	created := false
	u, err := a.store.Users.BySubject(ctx, id.Subject)
	if errors.Is(err, store.ErrNotFound) {
		// A user provisioned before their first login, without the IdP
		// subject, is bound by their email.
		var bound *store.User
		if bound, err = a.bindProvisioned(ctx, id); err == nil && bound != nil {
			u = bound
		} else if err == nil {
			err = store.ErrNotFound
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		u = &store.User{Subject: id.Subject, Name: name, Email: id.Email, EmailUnverified: id.EmailUnverified, GroupIDs: nonNil(groupIDs),
			Roles: nonNil(idpRoles), IdpRoles: idpRoles}
		err = a.store.Users.Create(ctx, u)
		if err == nil {
			created = true
			if len(idpRoles) > 0 {
				if err := a.rolesChanged(ctx, u, nil, u.Roles, "idp"); err != nil {
					return nil, err
				}
			}
		} else if errors.Is(err, store.ErrConflict) {
			u, err = a.store.Users.BySubject(ctx, id.Subject)
		}
	}
	if err != nil {
		return nil, err
	}
	if u, err = a.refresh(ctx, u, name, id.Email, id.EmailUnverified, groupIDs, idpRoles); err != nil {
		return nil, err
	}
	if u, err = a.bootstrapAdmin(ctx, u, id, created); err != nil {
		return nil, err
	}
	a.invalidate("subject", u.ID)
	a.ForgetUser(u.ID)
	for _, hook := range a.onLogin {
		if err := hook(ctx, u, created); err != nil {
			return nil, err
		}
	}
	if err := a.store.Events.Add(ctx, EventSource, "user-session.begin", u.ID,
		map[string]any{"subject": u.Subject, "created": created, "tokenKind": tokenKind(id)}); err != nil {
		return nil, err
	}
	return u, nil
}

// bindProvisioned gives the identity's subject to the provisioned user
// still waiting for one whose email is the token's, when that email names
// no other user; nil when there is none. An email the identity provider
// says is not verified binds nobody (anybody may claim any address at some
// providers). A concurrent login of the same subject that bound it first
// is found by its subject.
func (a *Authenticator) bindProvisioned(ctx context.Context, id idp.Identity) (*store.User, error) {
	if id.Email == "" || id.EmailUnverified {
		return nil, nil
	}
	us, err := a.byEmail(ctx, id.Email)
	if err != nil || len(us) != 1 || us[0].Bound() {
		return nil, err
	}
	sub := id.Subject
	u, err := a.store.Users.Update(ctx, us[0].ID, store.UserChange{Version: us[0].Version, Subject: &sub})
	if errors.Is(err, store.ErrConflict) {
		return a.store.Users.BySubject(ctx, id.Subject)
	}
	if err != nil {
		return nil, err
	}
	a.logger.Info("provisioned user bound at first login", "userId", u.ID, "subject", sub)
	return u, nil
}

// byEmail returns the users with email, at most two (an email that names
// more than one user names nobody).
func (a *Authenticator) byEmail(ctx context.Context, email string) ([]store.User, error) {
	if a.usersByEmail == nil {
		return a.store.Users.ByEmail(ctx, email)
	}
	ids, err := a.usersByEmail(ctx, email)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var us []store.User
	for _, id := range ids[:min(len(ids), 2)] {
		u, err := a.store.Users.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the index saw it
		}
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(u.Email, email) {
			us = append(us, *u)
		}
	}
	return us, nil
}

func tokenKind(id idp.Identity) string {
	if id.Kind == "" {
		return "id_token"
	}
	return id.Kind
}

// bootstrapAdmin makes u TenantAdmin when the operator named it
// (--bootstrap-admin: subject or email), once per user; or, with
// --bootstrap-first-login and no bootstrap admins, when u is the tenant's
// first user and nobody is TenantAdmin. Markers with unique ids decide
// races between replicas.
func (a *Authenticator) bootstrapAdmin(ctx context.Context, u *store.User, id idp.Identity, created bool) (*store.User, error) {
	if u.HasRole(RoleTenantAdmin) {
		return u, nil
	}
	var reason, marker string
	switch {
	case a.isBootstrapAdmin(u, id):
		reason, marker = "bootstrap-admin", "bootstrap-admin/"+u.ID
	case created && a.firstLogin && len(a.bootstrap) == 0:
		n, err := a.store.Users.Count(ctx, store.UserFilter{Role: RoleTenantAdmin})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return u, nil
		}
		reason, marker = "bootstrap-first-login", "first-admin"
	default:
		return u, nil
	}
	ok, err := a.claimMarker(ctx, marker, u.ID)
	if err != nil || !ok {
		return u, err
	}
	for range 5 {
		nu, err := a.setRoles(ctx, u, append(slices.Clone(u.Roles), RoleTenantAdmin))
		if err == nil {
			return nu, a.rolesChanged(ctx, nu, u.Roles, nu.Roles, reason)
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		if u, err = a.store.Users.Get(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("user %q keeps changing: %w", u.ID, store.ErrConflict)
}

func (a *Authenticator) isBootstrapAdmin(u *store.User, id idp.Identity) bool {
	for _, b := range a.bootstrap {
		// An unverified email names nobody, bootstrap admins included.
		if b == id.Subject || (id.Email != "" && !id.EmailUnverified && strings.EqualFold(b, id.Email)) ||
			(u.Email != "" && !u.EmailUnverified && strings.EqualFold(b, u.Email)) {
			return true
		}
	}
	return false
}

// claimMarker inserts the marker document id for userID; false when it
// exists (claimed before).
func (a *Authenticator) claimMarker(ctx context.Context, id, userID string) (bool, error) {
	_, err := a.store.Database().Collection("tenant").InsertOne(ctx,
		map[string]any{"_id": id, "userId": userID, "at": time.Now().UTC()})
	if err == nil {
		return true, nil
	}
	if errors.Is(store.MapErr(err), store.ErrConflict) {
		return false, nil
	}
	return false, err
}

// rolesChanged records a change of u's roles from before to after as an
// event (user.roles.changed) and a log line.
func (a *Authenticator) rolesChanged(ctx context.Context, u *store.User, before, after []string, source string) error {
	var added, removed []string
	for _, r := range after {
		if !slices.Contains(before, r) {
			added = append(added, r)
		}
	}
	for _, r := range before {
		if !slices.Contains(after, r) {
			removed = append(removed, r)
		}
	}
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	a.logger.InfoContext(ctx, "user roles changed", "userId", u.ID, "subject", u.Subject,
		"added", nonNil(added), "removed", nonNil(removed), "source", source)
	return a.store.Events.Add(ctx, EventSource, "user.roles.changed", u.ID, map[string]any{
		"subject": u.Subject, "added": nonNil(added), "removed": nonNil(removed), "roles": nonNil(after), "source": source})
}

// mapRoles turns the IdP's role names into rulekeeper roles: through the
// role map, else by name (case-insensitive) when it is a rulekeeper role;
// others are dropped. nil stays nil (no roles claim: roles unchanged).
func (a *Authenticator) mapRoles(ctx context.Context, names []string) []string {
	if names == nil {
		return nil
	}
	out := []string{}
	for _, n := range names {
		r, ok := a.roleMap[n]
		if !ok {
			for _, known := range AssignableRoles {
				if strings.EqualFold(known, n) {
					r, ok = known, true
				}
			}
		}
		if !ok {
			a.logger.DebugContext(ctx, "IdP role ignored: not mapped (--role-map) and not a rulekeeper role", "role", n)
			continue
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// ParseRoleMap reads "idpRole=rulekeeperRole,..." (--role-map). Every
// target must be a rulekeeper role; an IdP role may be mapped once.
func ParseRoleMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		from, to, ok := strings.Cut(part, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("role map entry %q: want idpRole=rulekeeperRole", part)
		}
		if !slices.Contains(AssignableRoles, to) {
			return nil, fmt.Errorf("role map entry %q: %q is not a rulekeeper role (%s)", part, to, strings.Join(AssignableRoles, ", "))
		}
		if prev, dup := m[from]; dup && prev != to {
			return nil, fmt.Errorf("role map: %q is mapped twice (%s and %s)", from, prev, to)
		}
		m[from] = to
	}
	return m, nil
}

// refresh brings u in line with the login: name, email, groups (nil:
// unchanged) and the IdP's roles (nil: unchanged), which replace the roles
// the IdP gave before while keeping those given in rulekeeper.
func (a *Authenticator) refresh(ctx context.Context, u *store.User, name, email string, emailUnverified bool, groupIDs, idpRoles []string) (*store.User, error) {
	for range 5 {
		groups := groupIDs
		if groups == nil {
			groups = u.GroupIDs
		}
		roles, newIdp := u.Roles, u.IdpRoles
		if idpRoles != nil {
			roles = slices.DeleteFunc(slices.Clone(u.Roles), func(r string) bool { return slices.Contains(u.IdpRoles, r) })
			for _, r := range idpRoles {
				if !slices.Contains(roles, r) {
					roles = append(roles, r)
				}
			}
			newIdp = idpRoles
		}
		rolesSame := slices.Equal(roles, u.Roles) && slices.Equal(nonNil(newIdp), nonNil(u.IdpRoles))
		if u.Name == name && u.Email == email && u.EmailUnverified == emailUnverified && slices.Equal(u.GroupIDs, groups) && rolesSame {
			return u, nil
		}
		now := time.Now()
		ch := store.UserChange{Version: u.Version, Name: &name, Email: &email, EmailUnverified: &emailUnverified, GroupIDs: groups, LastLogin: &now}
		if !rolesSame {
			ch.Roles, ch.IdpRoles = nonNil(roles), nonNil(newIdp)
		}
		nu, err := a.store.Users.Update(ctx, u.ID, ch)
		if err == nil {
			if !rolesSame {
				if err := a.rolesChanged(ctx, nu, u.Roles, nu.Roles, "idp"); err != nil {
					return nil, err
				}
			}
			return nu, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		if u, err = a.store.Users.Get(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("user %q keeps changing: %w", u.ID, store.ErrConflict)
}

func (a *Authenticator) setRoles(ctx context.Context, u *store.User, roles []string) (*store.User, error) {
	return a.store.Users.Update(ctx, u.ID, store.UserChange{Version: u.Version, Roles: roles})
}

// groupIDs resolves group names to ids, creating missing groups when
// create is set and skipping them otherwise.
func (a *Authenticator) groupIDs(ctx context.Context, names []string, create bool) ([]string, error) {
	ids := []string{}
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		g, err := a.store.Groups.ByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) && create {
			g = &store.Group{Name: name, Source: "idp"}
			if err = a.store.Groups.Create(ctx, g); errors.Is(err, store.ErrConflict) {
				g, err = a.store.Groups.ByName(ctx, name)
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Forget drops remembered sessions of every token, e.g. after a user was
// disabled, so the next request logs in again.
func (a *Authenticator) Forget() { a.sessions.Purge() }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
