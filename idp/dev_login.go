package idp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DevCodeTTL is how long an authorization code of the dev issuer may wait
// for its exchange at the token endpoint.
const DevCodeTTL = time.Minute

const devMaxCodes = 1024

// devCode is an authorization code waiting for its exchange.
type devCode struct {
	user, redirectURI, challenge string
	expires                      time.Time
}

// devCodes are the dev issuer's pending authorization codes.
type devCodes struct {
	mu    sync.Mutex
	codes map[string]devCode
}

// ListUsers names the users the login page offers (the demo users); any
// other name can be typed in.
func (d *DevIssuer) ListUsers(names ...string) { d.users = append([]string(nil), names...) }

// authzParams are the parameters of an authorization request (RFC 6749
// §4.1.1 with PKCE, RFC 7636).
type authzParams struct {
	ClientID, RedirectURI, State, Challenge, Method, Scope string
}

func readAuthzParams(v url.Values) authzParams {
	return authzParams{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state"),
		Challenge: v.Get("code_challenge"), Method: v.Get("code_challenge_method"), Scope: v.Get("scope")}
}

// checkAuthz returns what is wrong with an authorization request, or "".
// The redirect URI must be on the issuer's own origin: the dev issuer only
// signs people into the server it belongs to.
func (d *DevIssuer) checkAuthz(p authzParams, responseType string) string {
	switch {
	case responseType != "code":
		return "response_type must be code"
	case p.ClientID != d.clientID:
		return "unknown client_id (the dev issuer's client is " + d.clientID + ")"
	case p.Challenge == "" || p.Method != "S256":
		return "PKCE is required: code_challenge with code_challenge_method=S256"
	case len(p.Challenge) < 43 || len(p.Challenge) > 128:
		return "code_challenge must be 43 to 128 characters"
	}
	ru, err := url.Parse(p.RedirectURI)
	iss, _ := url.Parse(d.issuer)
	if err != nil || ru.Scheme != iss.Scheme || ru.Host != iss.Host || ru.Fragment != "" {
		return "redirect_uri must be an absolute URL on " + iss.Scheme + "://" + iss.Host
	}
	return ""
}

var devLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in — rulekeeper dev issuer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d2733}
h1{font-size:1.4rem}.users{display:grid;grid-template-columns:repeat(2,1fr);gap:.5rem;margin:1rem 0}
button{font:inherit;padding:.5rem .8rem;border:1px solid #8a99aa;border-radius:4px;background:#f4f7fa;cursor:pointer;text-align:left}
button:hover,button:focus-visible{background:#e0ebf7;outline:2px solid #1f5fa8}
.note{color:#555;font-size:.9rem}label{display:block;margin-top:1rem;font-weight:600}
input{font:inherit;padding:.4rem;border:1px solid #8a99aa;border-radius:4px;width:60%}
.error{color:#a30000}
</style></head><body>
<h1>Sign in to rulekeeper</h1>
<p class="note">Development issuer: no password. Pick a demo user, or type any name.</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<div class="users" role="group" aria-label="Demo users">
{{range .Users}}<button type="submit" name="user" value="{{.}}">Sign in as {{.}}</button>
{{end}}</div>
</form>
<form method="post">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<label for="other">Other user name</label>
<input id="other" name="user" autocomplete="username" required>
<button type="submit">Sign in</button>
</form>
</body></html>`))

// serveAuthorize shows the login page (GET) and, for the user picked
// (POST), redirects back with a one-time code bound to the PKCE challenge.
func (d *DevIssuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, devMaxBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the form could not be parsed", nil)
		return
	}
	p := readAuthzParams(r.Form)
	if msg := d.checkAuthz(p, r.Form.Get("response_type")); msg != "" {
		// Never redirect to an unchecked URI: answer here.
		writeError(w, http.StatusBadRequest, "invalid_request", msg, nil)
		return
	}
	hidden := map[string]string{"response_type": "code", "client_id": p.ClientID, "redirect_uri": p.RedirectURI,
		"state": p.State, "code_challenge": p.Challenge, "code_challenge_method": p.Method, "scope": p.Scope}
	if r.Method == http.MethodGet {
		d.renderLogin(w, http.StatusOK, hidden, "")
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	if msg := checkName(user); msg != "" {
		d.renderLogin(w, http.StatusBadRequest, hidden, "The user name "+msg+".")
		return
	}
	code, err := d.codes.add(devCode{user: user, redirectURI: p.RedirectURI, challenge: p.Challenge,
		expires: d.now().Add(DevCodeTTL)}, d.now())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "too_many_codes", err.Error(), nil)
		return
	}
	ru, _ := url.Parse(p.RedirectURI)
	q := ru.Query()
	q.Set("code", code)
	if p.State != "" {
		q.Set("state", p.State)
	}
	ru.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, ru.String(), http.StatusSeeOther)
}

func (d *DevIssuer) renderLogin(w http.ResponseWriter, status int, hidden map[string]string, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "+d.origin())
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = devLoginPage.Execute(w, map[string]any{"Users": d.users, "Hidden": hidden, "Error": msg})
}

func (d *DevIssuer) origin() string {
	u, _ := url.Parse(d.issuer)
	return u.Scheme + "://" + u.Host
}

func (c *devCodes) add(dc devCode, now time.Time) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	code := base64.RawURLEncoding.EncodeToString(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes = map[string]devCode{}
	}
	for k, v := range c.codes {
		if now.After(v.expires) {
			delete(c.codes, k)
		}
	}
	if len(c.codes) >= devMaxCodes {
		return "", errTooManyCodes
	}
	c.codes[code] = dc
	return code, nil
}

// take removes and returns the code (each code is good once).
func (c *devCodes) take(code string, now time.Time) (devCode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dc, ok := c.codes[code]
	delete(c.codes, code)
	return dc, ok && !now.After(dc.expires)
}

type devError string

func (e devError) Error() string { return string(e) }

const errTooManyCodes = devError("too many pending authorization codes; try again in a minute")

// exchangeCode serves grant_type=authorization_code: the code, the
// redirect URI it was issued for and the PKCE verifier that hashes to its
// challenge. Errors follow RFC 6749 §5.2 (error, error_description) besides
// the API's code and message.
func (d *DevIssuer) exchangeCode(w http.ResponseWriter, r *http.Request) {
	fail := func(code, msg string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": code, "message": msg, "error": code, "error_description": msg})
	}
	f := r.PostForm
	if f.Get("client_id") != "" && f.Get("client_id") != d.clientID {
		fail("invalid_client", "unknown client_id")
		return
	}
	dc, ok := d.codes.take(f.Get("code"), d.now())
	if !ok {
		fail("invalid_grant", "the authorization code is unknown, used or expired")
		return
	}
	if f.Get("redirect_uri") != dc.redirectURI {
		fail("invalid_grant", "redirect_uri differs from the authorization request's")
		return
	}
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(dc.challenge)) != 1 {
		fail("invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	tok, err := d.Mint(Identity{Name: dc.user}, DevTokenTTL)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the token could not be signed", nil)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, devTokenResponse{AccessToken: tok, IDToken: tok, TokenType: "Bearer", ExpiresIn: int(DevTokenTTL / time.Second)})
}
