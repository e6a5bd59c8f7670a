// Package idptest runs a third-party OpenID provider on 127.0.0.1 for
// tests: the OP of github.com/zitadel/oidc (an OpenID Certified library)
// with its example storage, logged into through the real authorization
// code flow. Its tokens are real: ID tokens, JWT access tokens, opaque
// access tokens with RFC 7662 introspection, and a userinfo endpoint.
//
// Two clients are registered:
//
//   - [WebClient] (secret [WebSecret]): ID tokens with aud = "web", opaque
//     access tokens (introspect them with the same credentials);
//   - [APIClient] (secret [APISecret]): ID and JWT access tokens whose aud
//     is [APIAudience] only, as an IdP issues them for an API resource.
//
// Claims: ID tokens carry name, email, groups and roles (groups not for a
// user with GroupsOnlyInUserinfo); JWT access tokens carry groups and
// roles (same exception) but no name or email; userinfo and introspection
// carry everything.
package idptest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Registered clients.
const (
	WebClient   = "web"
	WebSecret   = "web-secret"
	APIClient   = "api"
	APISecret   = "api-secret"
	APIAudience = "https://rk.api"
	redirectURI = "http://127.0.0.1:1/callback"
	password    = "verysecure-Pa55"
)

// User is a user of the provider.
type User struct {
	ID, Username, Name, Email string
	Groups, Roles             []string
	// GroupsOnlyInUserinfo leaves groups out of the tokens: only the
	// userinfo endpoint (and introspection) tell them.
	GroupsOnlyInUserinfo bool
}

// Provider is a running OP.
type Provider struct {
	URL   string
	st    *wrapped
	srv   *httptest.Server
	jwks  atomic.Int32
	intro atomic.Int32
	users map[string]User
}

// Tokens are what the token endpoint answered.
type Tokens struct {
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
}

// Start runs a provider with users until the test ends.
func Start(t testing.TB, users ...User) *Provider {
	t.Helper()
	p := &Provider{users: map[string]User{}}
	p.srv = httptest.NewUnstartedServer(nil)
	p.URL = "http://" + p.srv.Listener.Addr().String()
	us := userStore{}
	for _, u := range users {
		p.users[u.ID] = u
		first, last, _ := strings.Cut(u.Name, " ")
		us[u.ID] = &storage.User{ID: u.ID, Username: u.Username, Password: password, FirstName: first,
			LastName: last, Email: u.Email, EmailVerified: true}
	}
	web := storage.WebClient(WebClient, WebSecret, redirectURI)
	api := storage.WebClient(APIClient, APISecret, redirectURI)
	st := &wrapped{Storage: storage.NewStorageWithClients(us, map[string]*storage.Client{WebClient: web, APIClient: api}), p: p}
	p.st = st
	var key [32]byte
	copy(key[:], "rulekeeper-idptest-crypto-key-32")
	provider, err := op.NewProvider(&op.Config{CryptoKey: key, CodeMethodS256: true, SupportedClaims: op.DefaultSupportedClaims},
		st, op.StaticIssuer(p.URL), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	p.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/keys":
			p.jwks.Add(1)
		case strings.Contains(r.URL.Path, "introspect"):
			p.intro.Add(1)
		}
		provider.ServeHTTP(w, r)
	})
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// JWKSFetches counts the requests to the JWKS endpoint.
func (p *Provider) JWKSFetches() int { return int(p.jwks.Load()) }

// Introspections counts the requests to the introspection endpoint.
func (p *Provider) Introspections() int { return int(p.intro.Load()) }

// Login runs the authorization code flow for username at client and
// returns the tokens.
func (p *Provider) Login(t testing.TB, client, username string) Tokens {
	t.Helper()
	secret := map[string]string{WebClient: WebSecret, APIClient: APISecret}[client]
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {client}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"s"}, "nonce": {"n"}}
	loc := redirect(t, hc, p.URL+"/authorize?"+q.Encode())
	id := loc.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("authorize redirected to %s, want the login page", loc)
	}
	if err := p.st.CheckUsernamePassword(username, password, id); err != nil {
		t.Fatal(err)
	}
	loc = redirect(t, hc, p.URL+"/authorize/callback?id="+url.QueryEscape(id))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("callback redirected to %s, want a code", loc)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok Tokens
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.IDToken == "" {
		t.Fatalf("token endpoint: %s %v %+v", resp.Status, err, tok)
	}
	return tok
}

func redirect(t testing.TB, hc *http.Client, u string) *url.URL {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("GET %s: %s, no redirect", u, resp.Status)
	}
	return loc
}

// userStore is the example storage's user store.
type userStore map[string]*storage.User

func (s userStore) GetUserByID(id string) *storage.User { return s[id] }
func (s userStore) GetUserByUsername(name string) *storage.User {
	for _, u := range s {
		if u.Username == name {
			return u
		}
	}
	return nil
}
func (s userStore) ExampleClientID() string { return "service" }

// wrapped adds groups and roles to the example storage's claims, makes the
// API client's access tokens JWTs for APIAudience.
type wrapped struct {
	*storage.Storage
	p *Provider
}

type jwtClient struct{ op.Client }

func (jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

func (s *wrapped) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err == nil && id == APIClient {
		return jwtClient{c}, nil
	}
	return c, err
}

// apiRequest gives the API client's requests their audience.
type apiRequest struct{ op.AuthRequest }

func (apiRequest) GetAudience() []string { return []string{APIAudience} }

func (s *wrapped) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err == nil && r.GetClientID() == APIClient {
		return apiRequest{r}, nil
	}
	return r, err
}

func (s *wrapped) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	if a, ok := req.(apiRequest); ok {
		req = a.AuthRequest // the example storage reads the client id from its own type
	}
	return s.Storage.CreateAccessToken(ctx, req)
}

func (s *wrapped) extra(userID string, tokens bool) map[string]any {
	u, ok := s.p.users[userID]
	if !ok {
		return nil
	}
	m := map[string]any{}
	if u.Roles != nil {
		m["roles"] = u.Roles
	}
	if u.Groups != nil && (!tokens || !u.GroupsOnlyInUserinfo) {
		m["groups"] = u.Groups
	}
	return m
}

// SetUserinfoFromRequest makes the ID token's claims.
func (s *wrapped) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}); err != nil {
		return err
	}
	for k, v := range s.extra(req.GetSubject(), true) {
		ui.AppendClaims(k, v)
	}
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *wrapped) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	for k, v := range s.extra(subject, false) {
		ui.AppendClaims(k, v)
	}
	return nil
}

// SetIntrospectionFromToken answers the introspection endpoint.
func (s *wrapped) SetIntrospectionFromToken(ctx context.Context, r *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	if err := s.Storage.SetIntrospectionFromToken(ctx, r, tokenID, subject, clientID); err != nil {
		return err
	}
	if r.Claims == nil {
		r.Claims = map[string]any{}
	}
	for k, v := range s.extra(subject, false) {
		r.Claims[k] = v
	}
	return nil
}

// GetPrivateClaimsFromScopes adds claims to JWT access tokens.
func (s *wrapped) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	return s.extra(userID, true), nil
}
