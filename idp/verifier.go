package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
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
	// ClientID must be among the tokens' audiences.
	ClientID string
	// Claims names the identity claims.
	Claims ClaimNames
	// HTTPClient is used for discovery and JWKS fetches. Default: a client
	// with a 10 s timeout.
	HTTPClient *http.Client
}

// Identity is what a verified token says about its bearer.
type Identity struct {
	Subject string
	Name    string
	Email   string
	// Groups is nil when the token has no groups claim (the caller keeps
	// what it knew) and empty when the claim is an empty list.
	Groups []string
	Roles  []string
	// Expiry is the token's exp (without the clock skew leeway).
	Expiry time.Time
}

// Verifier verifies OIDC tokens of one issuer for one client with go-oidc.
// It discovers the issuer lazily, on first use, so that it can be built
// before the issuer is reachable (the dev issuer lives in the same server);
// a failed discovery is retried by the next call. Keys are fetched from the
// issuer's JWKS and re-fetched by go-oidc when a token names an unknown key
// id (key rotation). Safe for concurrent use.
type Verifier struct {
	issuer   string
	clientID string
	claims   ClaimNames
	client   *http.Client
	now      func() time.Time

	mu      sync.Mutex
	idv     *oidc.IDTokenVerifier // nil until discovery succeeded
	pending *discovery            // the attempt under way, if any
}

// discovery is one discovery attempt shared by all callers waiting for it.
type discovery struct {
	done chan struct{}
	idv  *oidc.IDTokenVerifier
	err  *Error
}

// NewVerifier checks the configuration; it does no network I/O.
func NewVerifier(cfg Config) (*Verifier, error) {
	u, err := url.Parse(cfg.IssuerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("idp: issuer URL %q is not an absolute http(s) URL without query", cfg.IssuerURL)
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("idp: client id is required (it is the expected token audience)")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &Verifier{
		issuer:   cfg.IssuerURL,
		clientID: cfg.ClientID,
		claims:   cfg.Claims.withDefaults(),
		client:   client,
		now:      time.Now,
	}, nil
}

// Issuer is the configured issuer URL.
func (v *Verifier) Issuer() string { return v.issuer }

// Discover makes sure the issuer has been discovered, trying now if it has
// not. It returns nil or an [*Error] with [CodeIssuerUnavailable]; useful
// for readiness checks. Verify calls it itself.
func (v *Verifier) Discover(ctx context.Context) error {
	if _, err := v.idTokenVerifier(ctx); err != nil {
		return err
	}
	return nil
}

// Verify checks raw (a compact JWS) and returns the identity it carries.
// Every error is an [*Error]; see the Code* constants.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	raw = strings.TrimSpace(raw)
	// Garbage and forbidden algorithms are rejected before any network I/O,
	// so they get a 401 even while the issuer is down.
	pre, perr := preparse(raw)
	if perr != nil {
		return Identity{}, perr
	}
	idv, err := v.idTokenVerifier(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := idv.Verify(ctx, raw)
	if err != nil {
		return Identity{}, v.classify(err, pre)
	}
	// go-oidc has checked signature, issuer, audience and exp. Its nbf check
	// allows five minutes of skew; ours allows ClockSkew.
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
	id, perr := v.claims.identity(payload)
	if perr != nil {
		return Identity{}, perr
	}
	id.Expiry = tok.Expiry
	return id, nil
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
	case !slices.Contains(pre.Audience, v.clientID):
		return newError(CodeInvalidAudience, "the token is not meant for this service (audience)", err)
	}
	if e := v.checkNotBefore(pre); e != nil {
		e.Err = err
		return e
	}
	return newError(CodeInvalidSignature, "the token's signature could not be verified with the issuer's keys", err)
}

// idTokenVerifier returns the go-oidc verifier, discovering the issuer if
// that has not succeeded yet. Concurrent callers share one attempt.
func (v *Verifier) idTokenVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	if idv := v.idv; idv != nil {
		v.mu.Unlock()
		return idv, nil
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
		return d.idv, nil
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
	idv, err := v.newIDTokenVerifier(ctx)

	v.mu.Lock()
	if err == nil {
		v.idv = idv
	}
	v.pending = nil
	v.mu.Unlock()

	d.idv, d.err = idv, err
	close(d.done)
}

func (v *Verifier) newIDTokenVerifier(ctx context.Context) (*oidc.IDTokenVerifier, *Error) {
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
		Algs []string `json:"id_token_signing_alg_values_supported"`
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
	return provider.Verifier(&oidc.Config{
		ClientID:             v.clientID,
		SupportedSigningAlgs: algs,
		// go-oidc compares exp with Now() exactly; shifting Now back grants
		// the ClockSkew leeway. (Its own nbf check, with five minutes of
		// leeway, becomes four: stricter than go-oidc, looser than ours.)
		Now: func() time.Time { return v.now().Add(-ClockSkew) },
	}), nil
}

// quote quotes s for a message, shortened: it comes from the token.
func quote(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}
