package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// opaqueTTL is how long an introspection answer without exp is reused.
const opaqueTTL = time.Minute

// refusedTTL is how long the issuer's refusal of an opaque token (not
// active, another issuer or audience, expired) is reused: a client
// retrying a dead token, or anybody sending made-up ones, must not cost
// the issuer one introspection per request. An unreachable or failing
// endpoint is not cached.
const refusedTTL = 30 * time.Second

// verifyOpaque checks an opaque access token with the issuer's
// introspection endpoint (RFC 7662), authenticated with the client
// credentials. An active token's identity is cached until its exp.
func (v *Verifier) verifyOpaque(ctx context.Context, raw string) (Identity, error) {
	key := tokenKey(raw)
	if c, ok := v.cache.Get(key); ok && v.now().Before(c.until) {
		if c.refused != nil {
			return Identity{}, c.refused
		}
		return c.id, nil
	}
	id, err := v.introspect(ctx, raw)
	var e *Error
	if errors.As(err, &e) && e.Code != CodeIssuerUnavailable {
		v.cache.Add(key, cached{refused: e, until: v.now().Add(refusedTTL)})
	}
	return id, err
}

// introspect asks the issuer about raw and caches an active token's
// identity.
func (v *Verifier) introspect(ctx context.Context, raw string) (Identity, error) {
	key := tokenKey(raw)
	iss, err := v.discovered(ctx)
	if err != nil {
		return Identity{}, err
	}
	if iss.introspect == "" {
		return Identity{}, newError(CodeMalformed,
			"the token is not a JWT and the issuer's discovery document names no introspection_endpoint", nil)
	}
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, iss.introspect, strings.NewReader(form.Encode()))
	if rerr != nil {
		return Identity{}, newError(CodeIssuerUnavailable, "the introspection request could not be made", rerr)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(v.introID), url.QueryEscape(v.introSec))
	resp, herr := v.client.Do(req)
	if herr != nil {
		return Identity{}, newError(CodeIssuerUnavailable, "the issuer's introspection endpoint could not be reached", herr)
	}
	defer resp.Body.Close()
	body, herr := io.ReadAll(io.LimitReader(resp.Body, maxTokenSize))
	if herr != nil || resp.StatusCode != http.StatusOK {
		if herr == nil {
			herr = fmt.Errorf("introspection answered %s: %.200s", resp.Status, body)
		}
		return Identity{}, newError(CodeIssuerUnavailable, "the issuer's introspection endpoint failed (are the introspection client credentials right?)", herr)
	}
	var r struct {
		Active bool `json:"active"`
		tokenClaims
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Identity{}, newError(CodeIssuerUnavailable, "the introspection answer is not the expected JSON object", err)
	}
	if !r.Active {
		return Identity{}, newError(CodeInactive, "the issuer says the token is not active (expired, revoked or unknown)", nil)
	}
	if r.Issuer != "" && r.Issuer != v.issuer {
		return Identity{}, newError(CodeInvalidIssuer,
			fmt.Sprintf("the token was issued by %s, not by the configured issuer", quote(r.Issuer)), nil)
	}
	// Introspection answers may leave aud out; when present it must fit.
	if len(r.Audience) > 0 {
		if e := v.checkAudience(r.Audience); e != nil {
			return Identity{}, e
		}
	}
	if e := v.checkParty(&r.tokenClaims); e != nil {
		return Identity{}, e
	}
	if r.NotBefore != nil {
		if e := v.checkNotBefore(&r.tokenClaims); e != nil {
			return Identity{}, e
		}
	}
	id, perr := v.claims.identity(body)
	if perr != nil {
		return Identity{}, perr
	}
	id.Kind = KindOpaque
	until := v.now().Add(opaqueTTL)
	if r.Expiry != nil {
		if !r.Expiry.After(v.now().Add(-ClockSkew)) {
			return Identity{}, newError(CodeExpired,
				fmt.Sprintf("the token expired at %s", r.Expiry.UTC().Format(time.RFC3339)), nil)
		}
		id.Expiry, until = r.Expiry.Time, r.Expiry.Time
	}
	v.fillFromUserinfo(ctx, iss, raw, &id)
	v.cache.Add(key, cached{id: id, until: until})
	return id, nil
}

// missing reports whether id lacks a claim the configuration asks for.
func (v *Verifier) missing(id *Identity) bool {
	return (v.claims.Name != "" && id.Name == "") ||
		(v.claims.Email != "" && id.Email == "") ||
		(v.claims.Groups != "" && id.Groups == nil) ||
		(v.claims.Roles != "" && id.Roles == nil)
}

// fillFromUserinfo asks the issuer's userinfo endpoint, with the access
// token raw, for the claims id lacks, and fills them in. The answer is
// cached per token until the token expires. A failure is logged and
// leaves id as it is: a token valid in itself is not refused because
// userinfo is down or does not accept it.
func (v *Verifier) fillFromUserinfo(ctx context.Context, iss *issuer, raw string, id *Identity) {
	if !v.userinfo || !v.missing(id) || iss.provider.UserInfoEndpoint() == "" {
		return
	}
	key := tokenKey("userinfo\x00" + raw)
	var got Identity
	if c, ok := v.cache.Get(key); ok && v.now().Before(c.until) {
		got = c.id
	} else {
		ui, err := iss.provider.UserInfo(oidc.ClientContext(ctx, v.client),
			oauth2.StaticTokenSource(&oauth2.Token{AccessToken: raw, TokenType: "Bearer"}))
		if err != nil {
			v.logger.WarnContext(ctx, "userinfo request failed; the token's own claims are used",
				"issuer", v.issuer, "subject", id.Subject, "error", err.Error())
			return
		}
		var payload json.RawMessage
		if err := ui.Claims(&payload); err != nil {
			return
		}
		sub := v.claims
		sub.Subject = "sub" // OIDC Core §5.3.2: userinfo always has sub
		var perr *Error
		if got, perr = sub.identity(bytes.Clone(payload)); perr != nil || (v.claims.Subject == "sub" && got.Subject != id.Subject) {
			v.logger.WarnContext(ctx, "userinfo answered for another subject; ignored", "issuer", v.issuer, "subject", id.Subject)
			return
		}
		until := id.Expiry
		if until.IsZero() {
			until = v.now().Add(opaqueTTL)
		}
		v.cache.Add(key, cached{id: got, until: until})
	}
	if id.Name == "" {
		id.Name = got.Name
	}
	if id.Email == "" {
		id.Email, id.EmailUnverified = got.Email, got.EmailUnverified
	}
	if id.Groups == nil {
		id.Groups = got.Groups
	}
	if id.Roles == nil {
		id.Roles = got.Roles
	}
	id.Userinfo = true
}
