package idp_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/idp/idptest"
)

// thirdPartyUsers are the users of the third-party provider in these tests.
var thirdPartyUsers = []idptest.User{
	{ID: "u-alice", Username: "alice", Name: "Alice Liddell", Email: "alice@corp.example",
		Groups: []string{"Sales", "Finance"}, Roles: []string{"rk-admins"}},
	{ID: "u-carol", Username: "carol", Name: "Carol Danvers", Email: "carol@corp.example",
		Groups: []string{"Marketing"}, GroupsOnlyInUserinfo: true},
}

// TestThirdPartyProvider verifies real tokens of zitadel/oidc's OP, got
// through the authorization code flow: ID tokens, JWT access tokens for an
// API audience, opaque access tokens through introspection, and userinfo
// filling what a token lacks.
func TestThirdPartyProvider(t *testing.T) {
	op := idptest.Start(t, thirdPartyUsers...)
	ctx := context.Background()
	newV := func(cfg idp.Config) *idp.Verifier {
		t.Helper()
		cfg.IssuerURL = op.URL
		if cfg.Claims.Roles == "" {
			cfg.Claims.Roles = "roles"
		}
		v, err := idp.NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	both := newV(idp.Config{ClientID: idptest.WebClient, Audiences: []string{idptest.APIAudience},
		IntrospectionClientID: idptest.WebClient, IntrospectionClientSecret: idptest.WebSecret})
	idOnly := newV(idp.Config{ClientID: idptest.WebClient})

	alice := op.Login(t, idptest.WebClient, "alice")
	aliceAPI := op.Login(t, idptest.APIClient, "alice")
	carolAPI := op.Login(t, idptest.APIClient, "carol")
	if strings.Count(alice.AccessToken, ".") == 2 || strings.Count(aliceAPI.AccessToken, ".") != 2 {
		t.Fatalf("the web client's access token should be opaque and the API client's a JWT: %q / %q",
			alice.AccessToken, aliceAPI.AccessToken)
	}

	aliceWant := idp.Identity{Subject: "u-alice", Name: "Alice Liddell", Email: "alice@corp.example",
		Groups: []string{"Sales", "Finance"}, Roles: []string{"rk-admins"}}
	for _, tt := range []struct {
		name     string
		v        *idp.Verifier
		raw      string
		want     idp.Identity
		kind     string
		userinfo bool
		code     string
		inMsg    string
	}{
		{name: "ID token", v: both, raw: alice.IDToken, want: aliceWant},
		{name: "ID token, audience list of one", v: idOnly, raw: alice.IDToken, want: aliceWant},
		{name: "JWT access token for the API audience; userinfo adds name and email", v: both, raw: aliceAPI.AccessToken,
			want: aliceWant, kind: idp.KindAccessToken, userinfo: true},
		{name: "JWT access token without groups: userinfo fills them", v: both, raw: carolAPI.AccessToken,
			want: idp.Identity{Subject: "u-carol", Name: "Carol Danvers", Email: "carol@corp.example",
				Groups: []string{"Marketing"}}, kind: idp.KindAccessToken, userinfo: true},
		{name: "opaque access token, introspected", v: both, raw: alice.AccessToken, want: aliceWant, kind: idp.KindOpaque},
		{name: "API audience not accepted: the error names the accepted ones", v: idOnly, raw: aliceAPI.AccessToken,
			code: idp.CodeInvalidAudience, inMsg: `accepted are ["web"]`},
		{name: "opaque token without introspection", v: idOnly, raw: alice.AccessToken, code: idp.CodeMalformed},
		{name: "API ID token, wrong authorized party", v: newV(idp.Config{ClientID: idptest.WebClient,
			Audiences: []string{idptest.APIAudience}, AuthorizedParties: []string{idptest.WebClient}}),
			raw: aliceAPI.IDToken, code: idp.CodeInvalidParty, inMsg: `"api"`},
		{name: "opaque token, wrong introspection secret", v: newV(idp.Config{ClientID: idptest.WebClient,
			IntrospectionClientID: idptest.WebClient, IntrospectionClientSecret: "wrong"}),
			raw: alice.AccessToken, code: idp.CodeIssuerUnavailable},
		{name: "opaque token not known to the issuer", v: both, raw: "bm90LWEtdG9rZW4", code: idp.CodeInactive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.v.Verify(ctx, tt.raw)
			if tt.code != "" {
				ie := wantCode(t, err, tt.code)
				if !strings.Contains(ie.Message, tt.inMsg) {
					t.Fatalf("message %q does not say %q", ie.Message, tt.inMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Expiry.IsZero() {
				t.Error("no expiry")
			}
			if id.Kind != tt.kind || id.Userinfo != tt.userinfo {
				t.Errorf("kind %q userinfo %v, want %q %v", id.Kind, id.Userinfo, tt.kind, tt.userinfo)
			}
			slices.Sort(id.Groups)
			slices.Sort(tt.want.Groups)
			if id.Subject != tt.want.Subject || id.Name != tt.want.Name || id.Email != tt.want.Email ||
				!slices.Equal(id.Groups, tt.want.Groups) || !slices.Equal(id.Roles, tt.want.Roles) {
				t.Fatalf("identity %+v, want %+v", id, tt.want)
			}
		})
	}
	if st := both.State(); !st.Discovered || st.JWKSFetchedAt.IsZero() || st.LastError != "" || !st.Introspects {
		t.Errorf("state %+v", st)
	}
}

// TestForgedTokensDoNotHammerTheJWKS: with the default refetch interval, 50
// tokens naming unknown keys cost the issuer at most one JWKS request, and
// are refused as bad signatures (401), not as an unavailable issuer.
func TestForgedTokensDoNotHammerTheJWKS(t *testing.T) {
	op := idptest.Start(t, thirdPartyUsers...)
	ctx := context.Background()
	v, err := idp.NewVerifier(idp.Config{IssuerURL: op.URL, ClientID: idptest.WebClient})
	if err != nil {
		t.Fatal(err)
	}
	good := op.Login(t, idptest.WebClient, "alice").IDToken
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	before := op.JWKSFetches()
	claims := map[string]any{"iss": op.URL, "aud": idptest.WebClient, "sub": "u-alice", "exp": 4102444800}
	for i := range 50 {
		_, err := v.Verify(ctx, sign(t, key(t, i%4), claims, "forged-"+string(rune('a'+i%26))))
		wantCode(t, err, idp.CodeInvalidSignature)
	}
	if n := op.JWKSFetches() - before; n > 1 {
		t.Fatalf("50 forged tokens made %d JWKS requests, want at most 1", n)
	}
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	if st := v.State(); st.JWKSFetches > 2 {
		t.Fatalf("state %+v", st)
	}
}

// TestAccessTokenTypeAndAudiences: an RFC 9068 token (typ at+jwt) for an
// accepted API audience verifies as an access token; one without aud is
// refused with the accepted audiences named.
func TestAccessTokenTypeAndAudiences(t *testing.T) {
	ti := newTestIssuer(t)
	k := key(t, 0)
	v, err := idp.NewVerifier(idp.Config{IssuerURL: ti.URL(), ClientID: testClientID,
		Audiences: []string{"https://rk.api"}, NoUserinfo: true})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := jwt.Signed(signer).Claims(ti.claims(map[string]any{"aud": "https://rk.api", "client_id": "svc"})).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), at)
	if err != nil || id.Kind != idp.KindAccessToken || id.Subject != "user-123" {
		t.Fatalf("%+v %v", id, err)
	}
	_, err = v.Verify(context.Background(), sign(t, k, ti.claims(map[string]any{"aud": nil})))
	ie := wantCode(t, err, idp.CodeInvalidAudience)
	if !strings.Contains(ie.Message, `no audience, accepted are ["rulekeeper-test", "https://rk.api"]`) {
		t.Fatalf("message %q", ie.Message)
	}
}

// TestRefusedOpaqueTokensAreNotIntrospectedAgain: a token the issuer says
// is not active is refused from the cache on the next attempts (one
// introspection for 20 tries), while an active one still works.
func TestRefusedOpaqueTokensAreNotIntrospectedAgain(t *testing.T) {
	op := idptest.Start(t, thirdPartyUsers...)
	ctx := context.Background()
	v, err := idp.NewVerifier(idp.Config{IssuerURL: op.URL, ClientID: idptest.WebClient,
		IntrospectionClientID: idptest.WebClient, IntrospectionClientSecret: idptest.WebSecret})
	if err != nil {
		t.Fatal(err)
	}
	before := op.Introspections()
	for range 20 {
		_, err := v.Verify(ctx, "bm90LWEtdG9rZW4")
		wantCode(t, err, idp.CodeInactive)
	}
	if n := op.Introspections() - before; n != 1 {
		t.Fatalf("20 tries of one inactive token made %d introspection requests, want 1", n)
	}
	if _, err := v.Verify(ctx, op.Login(t, idptest.WebClient, "alice").AccessToken); err != nil {
		t.Fatalf("an active token after the refusals: %v", err)
	}
}
