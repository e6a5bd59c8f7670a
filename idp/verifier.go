package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	lru "github.com/hashicorp/golang-lru/v2"
)

// ClockSkew is the leeway granted when checking exp and nbf: a token is
// accepted up to ClockSkew after it expired and up to ClockSkew before its
// not-before time.
const ClockSkew = time.Minute

const (
	// discoveryTimeout bounds one discovery attempt (the caller's context may
	// end it earlier for that caller; the attempt itself goes on so that
	// concurrent callers share it).
	discoveryTimeout = 10 * time.Second
	// defaultHTTPTimeout is the timeout of the default HTTP client, used for
	// discovery and JWKS fetches when Config.HTTPClient is nil. go-oidc
	// fetches keys in the background without a deadline of its own.
	defaultHTTPTimeout = 10 * time.Second
)

// asymmetricAlgs are the only signing algorithms ever accepted (go-oidc's
// list). "none" and HMAC (HS256, ...) are rejected: an HMAC "key" would be
// public material such as the issuer's public key.
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

// ClaimNames says which token claims carry the identity. Empty fields take
// the defaults ("sub", "name", "email", "groups"; no roles claim). A name is
// first looked up as a top-level claim and, failing that, as a dotted path
// into nested objects ("realm_access.roles"). "-" switches Name, Email or
// Groups off.
type ClaimNames struct {
	Subject string
	Name    string
	Email   string
	Groups  string
	// Roles is the claim holding role names; "" means roles are not taken
	// from the token.
	Roles string
}

func (c ClaimNames) withDefaults() ClaimNames {
	def := func(s *string, d string) {
		switch *s = strings.TrimSpace(*s); *s {
		case "":
			*s = d
		case "-":
			*s = ""
		}
	}
	def(&c.Subject, "sub")
	def(&c.Name, "name")
	def(&c.Email, "email")
	def(&c.Groups, "groups")
	if c.Roles = strings.TrimSpace(c.Roles); c.Roles == "-" {
		c.Roles = ""
	}
	return c
}

// Config configures a [Verifier].
type Config struct {
	// IssuerURL is the issuer exactly as it appears in the tokens' iss claim
	// and in its discovery document (mind trailing slashes).
	IssuerURL string
	// ClientID is rulekeeper's client id at the issuer: the audience of its
	// ID tokens. It is accepted as an audience like those of Audiences.
	ClientID string
	// Audiences are further accepted audiences, e.g. the API audience of
	// JWT access tokens ("https://rulekeeper.example.com"). A token is
	// accepted when its aud holds at least one of ClientID and Audiences;
	// one of them must be set.
	Audiences []string
	// AuthorizedParties, when set, lists the only clients whose tokens are
	// accepted: the token's azp, else its client_id (RFC 9068), else its
	// single audience must be one of them.
	AuthorizedParties []string
	// IntrospectionClientID and IntrospectionClientSecret authenticate
	// rulekeeper at the issuer's introspection endpoint (RFC 7662, from the
	// discovery document), used for tokens that are not JWTs. Without them,
	// opaque tokens are refused as malformed.
	IntrospectionClientID     string
	IntrospectionClientSecret string
	// NoUserinfo stops the userinfo endpoint from being asked for the
	// name, email, groups or roles an access token lacks.
	NoUserinfo bool
	// Claims names the identity claims.
	Claims ClaimNames
	// HTTPClient is used for discovery, JWKS, userinfo and introspection.
	// Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// KeyRefetchInterval is the least time between two JWKS fetches; 0 is
	// [DefaultKeyRefetchInterval].
	KeyRefetchInterval time.Duration
	// Logger receives warnings (a failed userinfo request); default: none.
	Logger *slog.Logger
}

// Token kinds of [Identity.Kind]; an ID token's Kind is "".
const (
	KindAccessToken = "access_token" // a JWT access token (RFC 9068 or alike)
	KindOpaque      = "opaque"       // an opaque access token, introspected
)

// Identity is what a verified token says about its bearer.
type Identity struct {
	Subject string
	Name    string
	Email   string
	// EmailUnverified is set when the token (or userinfo) says
	// `email_verified: false` (true or "false" as a string alike): the
	// address is then not the user's to be found or bound by. A token
	// without the claim leaves it unset.
	EmailUnverified bool
	// Groups is nil when the token has no groups claim (the caller keeps
	// what it knew) and empty when the claim is an empty list.
	Groups []string
	// Roles is nil when no roles claim is configured or the token and
	// userinfo have none.
	Roles []string
	// Expiry is the token's exp (without the clock skew leeway).
	Expiry time.Time
	// Kind is "" for an ID token, else KindAccessToken or KindOpaque.
	Kind string
	// Userinfo is set when the userinfo endpoint filled missing claims.
	Userinfo bool
}

// Verifier verifies OIDC tokens of one issuer for one client with go-oidc.
// It discovers the issuer lazily, on first use, so that it can be built
// before the issuer is reachable (the dev issuer lives in the same server);
// a failed discovery is retried by the next call. Keys are fetched from the
// issuer's JWKS and re-fetched by go-oidc when a token names an unknown key
// id (key rotation). Safe for concurrent use.
type Verifier struct {
	issuer    string
	audiences []string
	parties   []string
	introID   string
	introSec  string
	userinfo  bool
	claims    ClaimNames
	client    *http.Client
	jwks      *jwksLimiter
	logger    *slog.Logger
	now       func() time.Time
	// cache keeps what introspection and userinfo said about a token (by
	// hash) until the token expires.
	cache *lru.Cache[[32]byte, cached]

	mu      sync.Mutex
	issuerP *issuer    // nil until discovery succeeded
	pending *discovery // the attempt under way, if any
	discErr string     // the last discovery failure
	discAt  time.Time
}

// issuer is what discovery found.
type issuer struct {
	provider   *oidc.Provider
	idv        *oidc.IDTokenVerifier
	introspect string // introspection endpoint, "" if none
}

// discovery is one discovery attempt shared by all callers waiting for it.
type discovery struct {
	done chan struct{}
	iss  *issuer
	err  *Error
}

type cached struct {
	id      Identity
	refused *Error // the issuer's refusal of an opaque token, if it refused
	until   time.Time
}

// NewVerifier checks the configuration; it does no network I/O.
func NewVerifier(cfg Config) (*Verifier, error) {
	u, err := url.Parse(cfg.IssuerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("idp: issuer URL %q is not an absolute http(s) URL without query", cfg.IssuerURL)
	}
	var auds []string
	for _, a := range append([]string{cfg.ClientID}, cfg.Audiences...) {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(auds, a) {
			auds = append(auds, a)
		}
	}
	if len(auds) == 0 {
		return nil, errors.New("idp: a client id or an audience is required (the accepted token audiences)")
	}
	if (cfg.IntrospectionClientID == "") != (cfg.IntrospectionClientSecret == "") {
		return nil, errors.New("idp: introspection needs both a client id and a client secret")
	}
	base := cfg.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: defaultHTTPTimeout}
	}
	interval := cfg.KeyRefetchInterval
	if interval <= 0 {
		interval = DefaultKeyRefetchInterval
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	jwks := &jwksLimiter{base: rt, interval: interval, now: time.Now}
	client := *base
	client.Transport = jwks
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cache, err := lru.New[[32]byte, cached](10_000)
	if err != nil {
		return nil, err
	}
	return &Verifier{
		issuer:    cfg.IssuerURL,
		audiences: auds,
		parties:   slices.DeleteFunc(slices.Clone(cfg.AuthorizedParties), func(s string) bool { return strings.TrimSpace(s) == "" }),
		introID:   cfg.IntrospectionClientID,
		introSec:  cfg.IntrospectionClientSecret,
		userinfo:  !cfg.NoUserinfo,
		claims:    cfg.Claims.withDefaults(),
		client:    &client,
		jwks:      jwks,
		logger:    logger,
		now:       time.Now,
		cache:     cache,
	}, nil
}

// Audiences are the accepted audiences (client id first).
func (v *Verifier) Audiences() []string { return slices.Clone(v.audiences) }

// State reports what the verifier knows about its issuer (for /readyz).
func (v *Verifier) State() IssuerState {
	v.mu.Lock()
	st := IssuerState{Issuer: v.issuer, Discovered: v.issuerP != nil, LastError: v.discErr, LastErrorAt: v.discAt,
		Introspects: v.introID != "" && v.issuerP != nil && v.issuerP.introspect != "", Userinfo: v.userinfo}
	v.mu.Unlock()
	v.jwks.mu.Lock()
	defer v.jwks.mu.Unlock()
	st.JWKSFetchedAt, st.JWKSFetches = v.jwks.fetchedAt, v.jwks.fetches
	if v.jwks.lastErr != "" && v.jwks.lastErrAt.After(st.LastErrorAt) {
		st.LastError, st.LastErrorAt = v.jwks.lastErr, v.jwks.lastErrAt
	}
	return st
}

// Issuer is the configured issuer URL.
func (v *Verifier) Issuer() string { return v.issuer }

// Discover makes sure the issuer has been discovered, trying now if it has
// not. It returns nil or an [*Error] with [CodeIssuerUnavailable]; useful
// for readiness checks. Verify calls it itself.
func (v *Verifier) Discover(ctx context.Context) error {
	if _, err := v.discovered(ctx); err != nil {
		return err
	}
	return nil
}

// Verify checks raw — a compact JWS (ID token or JWT access token) or,
// when introspection is configured, an opaque access token — and returns
// the identity it carries. Every error is an [*Error]; see the Code*
// constants.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	raw = strings.TrimSpace(raw)
	if v.introID != "" && raw != "" && len(raw) <= maxTokenSize && !looksLikeJWS(raw) {
		return v.verifyOpaque(ctx, raw)
	}
	// Garbage and forbidden algorithms are rejected before any network I/O,
	// so they get a 401 even while the issuer is down.
	pre, typ, perr := preparse(raw)
	if perr != nil {
		return Identity{}, perr
	}
	iss, err := v.discovered(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := iss.idv.Verify(ctx, raw)
	if err != nil {
		return Identity{}, v.classify(err, pre)
	}
	// go-oidc has checked signature, issuer and exp. Its nbf check allows
	// five minutes of skew; ours allows ClockSkew. The audience is checked
	// here, against a list.
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return Identity{}, newError(CodeMalformed, "the token's claims are not a JSON object", err)
	}
	verified, perr := parseClaims(payload)
	if perr != nil {
		return Identity{}, perr
	}
	if e := v.checkNotBefore(verified); e != nil {
		return Identity{}, e
	}
	if e := v.checkAudience(verified.Audience); e != nil {
		return Identity{}, e
	}
	if e := v.checkParty(verified); e != nil {
		return Identity{}, e
	}
	id, perr := v.claims.identity(payload)
	if perr != nil {
		return Identity{}, perr
	}
	id.Expiry = tok.Expiry
	if isAccessTokenType(typ) || verified.Scope != nil ||
		(verified.ClientID != "" && verified.Nonce == "" && verified.AtHash == "") {
		id.Kind = KindAccessToken
		v.fillFromUserinfo(ctx, iss, raw, &id)
	}
	return id, nil
}

// looksLikeJWS reports whether raw has the shape of a compact JWS: three
// parts, the first a base64url JSON object. Anything else is an opaque
// token when introspection is configured.
func looksLikeJWS(raw string) bool {
	h, _, ok := strings.Cut(raw, ".")
	if !ok || strings.Count(raw, ".") != 2 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	return err == nil && json.Valid(b) && strings.HasPrefix(strings.TrimSpace(string(b)), "{")
}

// isAccessTokenType reports whether a JWT's typ header says "access
// token" (RFC 9068 §2.1: "at+jwt", also written "application/at+jwt").
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(strings.TrimPrefix(strings.ToLower(typ), "application/"))
	return typ == "at+jwt"
}

func (v *Verifier) checkAudience(aud []string) *Error {
	for _, a := range aud {
		if slices.Contains(v.audiences, a) {
			return nil
		}
	}
	got := "no audience"
	if len(aud) > 0 {
		got = "the audience " + quoteList(aud)
	}
	return newError(CodeInvalidAudience, fmt.Sprintf(
		"the token is not meant for this service: it has %s, accepted are %s (--oidc-client-id, --oidc-audience)",
		got, quoteList(v.audiences)), nil)
}

// checkParty checks the client the token was issued to, when authorized
// parties are configured.
func (v *Verifier) checkParty(c *tokenClaims) *Error {
	if len(v.parties) == 0 {
		return nil
	}
	party := c.AuthorizedParty
	if party == "" {
		party = c.ClientID
	}
	if party == "" && len(c.Audience) == 1 {
		party = c.Audience[0]
	}
	if slices.Contains(v.parties, party) {
		return nil
	}
	return newError(CodeInvalidParty, fmt.Sprintf(
		"the token was issued to the client %s, accepted are %s (--oidc-authorized-party)",
		quote(party), quoteList(v.parties)), nil)
}

func (v *Verifier) checkNotBefore(c *tokenClaims) *Error {
	if c.NotBefore != nil && c.NotBefore.After(v.now().Add(ClockSkew)) {
		return newError(CodeNotYetValid,
			fmt.Sprintf("the token is not valid before %s", c.NotBefore.UTC().Format(time.RFC3339)), nil)
	}
	return nil
}

// classify turns a go-oidc verification error into an [*Error]. go-oidc
// types only the expiry error; for the others, knowing that go-oidc checks
// signature, then issuer, then audience, then exp and nbf, the failed check
// is found by looking at the (unverified) claims: a token whose issuer,
// audience and times are right was rejected for its signature. A token with a
// bad signature and a wrong issuer is reported as the latter; it is rejected
// either way.
func (v *Verifier) classify(err error, pre *tokenClaims) *Error {
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return newError(CodeExpired,
			fmt.Sprintf("the token expired at %s", expired.Expiry.UTC().Format(time.RFC3339)), err)
	case strings.Contains(err.Error(), "fetching keys"):
		// go-oidc re-fetches the JWKS when no cached key verifies the token
		// and formats that failure with %v, so only its text is left
		// ("failed to verify signature: fetching keys ..."). A test pins it.
		return newError(CodeIssuerUnavailable, "the issuer's signing keys could not be fetched", err)
	case pre.Issuer != v.issuer:
		return newError(CodeInvalidIssuer,
			fmt.Sprintf("the token was issued by %s, not by the configured issuer", quote(pre.Issuer)), err)
	}
	if e := v.checkNotBefore(pre); e != nil {
		e.Err = err
		return e
	}
	return newError(CodeInvalidSignature, "the token's signature could not be verified with the issuer's keys", err)
}

// discovered returns what discovery found, discovering the issuer if
// that has not succeeded yet. Concurrent callers share one attempt.
func (v *Verifier) discovered(ctx context.Context) (*issuer, error) {
	v.mu.Lock()
	if iss := v.issuerP; iss != nil {
		v.mu.Unlock()
		return iss, nil
	}
	d := v.pending
	if d == nil {
		d = &discovery{done: make(chan struct{})}
		v.pending = d
		go v.discover(d)
	}
	v.mu.Unlock()
	select {
	case <-d.done:
		if d.err != nil {
			return nil, d.err
		}
		return d.iss, nil
	case <-ctx.Done():
		return nil, newError(CodeIssuerUnavailable,
			fmt.Sprintf("the OIDC issuer %s has not been discovered yet", v.issuer), ctx.Err())
	}
}

func (v *Verifier) discover(d *discovery) {
	// The attempt has its own deadline rather than a caller's context: a
	// caller that gives up must not fail the attempt for the others. The
	// context also hands go-oidc the HTTP client, which the provider keeps
	// for its JWKS fetches.
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), v.client), discoveryTimeout)
	defer cancel()
	iss, err := v.newIssuer(ctx)

	v.mu.Lock()
	if err == nil {
		v.issuerP = iss
		v.discErr = ""
	} else {
		v.discErr, v.discAt = err.Message, v.now()
	}
	v.pending = nil
	v.mu.Unlock()

	d.iss, d.err = iss, err
	close(d.done)
}

func (v *Verifier) newIssuer(ctx context.Context) (*issuer, *Error) {
	provider, err := oidc.NewProvider(ctx, v.issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, newError(CodeIssuerUnavailable, fmt.Sprintf(
				"the discovery document of %s names the issuer %q: the configured issuer URL must match it exactly",
				v.issuer, mismatch.Discovered), err)
		}
		return nil, newError(CodeIssuerUnavailable,
			fmt.Sprintf("the OIDC issuer %s could not be discovered", v.issuer), err)
	}
	// Accept what the issuer says it signs with, within the asymmetric
	// algorithms; all of those if it says nothing (go-oidc would fall back
	// to RS256 alone).
	var meta struct {
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		JWKS       string   `json:"jwks_uri"`
		Introspect string   `json:"introspection_endpoint"`
	}
	_ = provider.Claims(&meta) // the document parsed once already
	var algs []string
	for _, a := range meta.Algs {
		if slices.Contains(asymmetricAlgs, a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = slices.Clone(asymmetricAlgs)
	}
	v.jwks.setJWKSURL(meta.JWKS)
	idv := provider.Verifier(&oidc.Config{
		// The audience is checked by Verify, against a list.
		SkipClientIDCheck:    true,
		SupportedSigningAlgs: algs,
		// go-oidc compares exp with Now() exactly; shifting Now back grants
		// the ClockSkew leeway. (Its own nbf check, with five minutes of
		// leeway, becomes four: stricter than go-oidc, looser than ours.)
		Now: func() time.Time { return v.now().Add(-ClockSkew) },
	})
	return &issuer{provider: provider, idv: idv, introspect: meta.Introspect}, nil
}

func tokenKey(raw string) [32]byte { return sha256.Sum256([]byte(raw)) }

// quote quotes s for a message, shortened: it comes from the token.
func quote(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// quoteList quotes each of l, comma-separated in brackets.
func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
