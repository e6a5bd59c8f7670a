package idp_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/rulekeeper/rulekeeper/idp"
)

func newVerifier(t testing.TB, issuer string, claims idp.ClaimNames) *idp.Verifier {
	t.Helper()
	// Key rotation is tested without the JWKS refetch rate limit (see
	// TestForgedTokensDoNotHammerTheJWKS for it).
	v, err := idp.NewVerifier(idp.Config{IssuerURL: issuer, ClientID: testClientID, Claims: claims,
		KeyRefetchInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantCode asserts that err is an *idp.Error with code.
func wantCode(t testing.TB, err error, code string) *idp.Error {
	t.Helper()
	var ie *idp.Error
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want *idp.Error %s", err, err, code)
	}
	if ie.Code != code {
		t.Fatalf("code %s (%v), want %s", ie.Code, ie, code)
	}
	if ie.Message == "" {
		t.Fatalf("empty message in %v", ie)
	}
	return ie
}

func TestVerify(t *testing.T) {
	ti := newTestIssuer(t)
	v := newVerifier(t, ti.URL(), idp.ClaimNames{})
	ctx := context.Background()
	k := key(t, 0)
	other := key(t, 1) // never published
	now := time.Now()

	// The HMAC "key" an attacker has: the issuer's public key.
	pubDER, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: pubPEM, KeyID: k.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hsToken, err := jwt.Signed(hsSigner).Claims(ti.claims(nil)).Serialize()
	if err != nil {
		t.Fatal(err)
	}

	tampered := func() string {
		parts := strings.Split(sign(t, k, ti.claims(nil)), ".")
		parts[1] = base64.RawURLEncoding.EncodeToString(mustJSON(t, ti.claims(map[string]any{"sub": "admin"})))
		return strings.Join(parts, ".")
	}()

	tests := []struct {
		name  string
		token string
		code  string // "" = valid
	}{
		{"valid", sign(t, k, ti.claims(nil)), ""},
		{"valid, audience list", sign(t, k, ti.claims(map[string]any{"aud": []string{"other", testClientID}})), ""},
		{"valid, no nbf", sign(t, k, ti.claims(map[string]any{"nbf": nil})), ""},
		{"valid, fractional times", sign(t, k, ti.claims(map[string]any{"exp": float64(now.Add(time.Hour).Unix()) + 0.5, "nbf": float64(now.Unix()) - 0.25})), ""},
		{"valid, surrounding space", " " + sign(t, k, ti.claims(nil)) + "\n", ""},
		{"expired", sign(t, k, ti.claims(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})), idp.CodeExpired},
		{"expired long ago", sign(t, k, ti.claims(map[string]any{"iat": now.Add(-48 * time.Hour).Unix(), "nbf": nil, "exp": now.Add(-24 * time.Hour).Unix()})), idp.CodeExpired},
		{"expired within skew", sign(t, k, ti.claims(map[string]any{"exp": now.Add(-30 * time.Second).Unix()})), ""},
		{"not yet valid", sign(t, k, ti.claims(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), idp.CodeNotYetValid},
		{"not yet valid, far", sign(t, k, ti.claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()})), idp.CodeNotYetValid},
		{"not yet valid within skew", sign(t, k, ti.claims(map[string]any{"nbf": now.Add(30 * time.Second).Unix()})), ""},
		{"wrong issuer", sign(t, k, ti.claims(map[string]any{"iss": "https://evil.example.com"})), idp.CodeInvalidIssuer},
		{"issuer with trailing slash", sign(t, k, ti.claims(map[string]any{"iss": ti.URL() + "/"})), idp.CodeInvalidIssuer},
		{"wrong audience", sign(t, k, ti.claims(map[string]any{"aud": "someone-else"})), idp.CodeInvalidAudience},
		{"no audience", sign(t, k, ti.claims(map[string]any{"aud": nil})), idp.CodeInvalidAudience},
		{"unknown kid", sign(t, other, ti.claims(nil)), idp.CodeInvalidSignature},
		{"bad signature (other key, known kid)", sign(t, other, ti.claims(nil), k.kid), idp.CodeInvalidSignature},
		{"bad signature (no kid)", sign(t, other, ti.claims(nil), ""), idp.CodeInvalidSignature},
		{"tampered claims", tampered, idp.CodeInvalidSignature},
		{"alg none", unsigned(map[string]any{"alg": "none", "typ": "JWT"}, ti.claims(nil), ""), idp.CodeInvalidSignature},
		{"alg None", unsigned(map[string]any{"alg": "None", "kid": k.kid}, ti.claims(nil), "c2ln"), idp.CodeInvalidSignature},
		{"HS256 with the public key as secret", hsToken, idp.CodeInvalidSignature},
		{"empty signature", unsigned(map[string]any{"alg": "RS256", "kid": k.kid}, ti.claims(nil), ""), idp.CodeInvalidSignature},
		{"empty", "", idp.CodeMalformed},
		{"garbage", "not-a-token", idp.CodeMalformed},
		{"four parts", "a.b.c.d", idp.CodeMalformed},
		{"JWE", "a.b.c.d.e", idp.CodeMalformed},
		{"header not base64", "!!!.e30.c2ln", idp.CodeMalformed},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("alg")) + ".e30.c2ln", idp.CodeMalformed},
		{"claims not JSON", unsignedRaw(`{"alg":"RS256"}`, `not json`, "c2ln"), idp.CodeMalformed},
		{"claims an array", unsignedRaw(`{"alg":"RS256"}`, `[1,2]`, "c2ln"), idp.CodeMalformed},
		{"exp a word", sign(t, k, ti.claims(map[string]any{"exp": "tomorrow"})), idp.CodeMalformed},
		{"no exp", sign(t, k, ti.claims(map[string]any{"exp": nil})), idp.CodeMalformed},
		{"distributed claim without source", sign(t, k, ti.claims(map[string]any{"_claim_names": map[string]string{"groups": "src1"}})), idp.CodeMalformed},
		{"nbf a word", sign(t, k, ti.claims(map[string]any{"nbf": "soon"})), idp.CodeMalformed},
		{"no subject", sign(t, k, ti.claims(map[string]any{"sub": nil})), idp.CodeMalformed},
		{"signature not base64", unsigned(map[string]any{"alg": "RS256"}, ti.claims(nil), "***"), idp.CodeMalformed},
		{"huge", strings.Repeat("a", 70<<10), idp.CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(ctx, tt.token)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.Subject != "user-123" {
					t.Fatalf("subject %q", id.Subject)
				}
				return
			}
			ie := wantCode(t, err, tt.code)
			if ie.Unavailable() || ie.HTTPStatus() != http.StatusUnauthorized || idp.IsUnavailable(err) {
				t.Fatalf("%v is reported as unavailable", ie)
			}
			if id.Subject != "" {
				t.Fatalf("identity %+v returned with error", id)
			}
		})
	}

	t.Run("identity", func(t *testing.T) {
		exp := now.Add(time.Hour).Truncate(time.Second)
		id, err := v.Verify(ctx, sign(t, k, ti.claims(map[string]any{"exp": exp.Unix(), "roles": []string{"TenantAdmin"}})))
		if err != nil {
			t.Fatal(err)
		}
		want := idp.Identity{
			Subject: "user-123", Name: "Alice Example", Email: "alice@example.com",
			Groups: []string{"Sales", "Finance"}, Expiry: exp,
		}
		if !id.Expiry.Equal(want.Expiry) {
			t.Fatalf("expiry %v, want %v", id.Expiry, want.Expiry)
		}
		id.Expiry = want.Expiry
		if !reflect.DeepEqual(id, want) { // roles: no roles claim configured
			t.Fatalf("identity\n%+v, want\n%+v", id, want)
		}
	})

	t.Run("expired wraps the go-oidc error", func(t *testing.T) {
		_, err := v.Verify(ctx, sign(t, k, ti.claims(map[string]any{"exp": now.Add(-time.Hour).Unix()})))
		var te *oidc.TokenExpiredError
		if !errors.As(err, &te) {
			t.Fatalf("%v does not wrap *oidc.TokenExpiredError", err)
		}
	})
}

func unsignedRaw(header, claims, sig string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + "." + sig
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClaimNames(t *testing.T) {
	ti := newTestIssuer(t)
	k := key(t, 0)
	ctx := context.Background()
	tests := []struct {
		name   string
		names  idp.ClaimNames
		claims map[string]any
		want   idp.Identity
		code   string
	}{
		{
			name:   "defaults, groups as one string",
			claims: map[string]any{"groups": "Sales"},
			want:   idp.Identity{Subject: "user-123", Name: "Alice Example", Email: "alice@example.com", Groups: []string{"Sales"}},
		},
		{
			name:   "groups trimmed, deduplicated, non-strings dropped",
			claims: map[string]any{"groups": []any{" Sales ", "Sales", "", 42, true, map[string]any{}, "Finance"}},
			want:   idp.Identity{Subject: "user-123", Name: "Alice Example", Email: "alice@example.com", Groups: []string{"Sales", "42", "Finance"}},
		},
		{
			name:   "no groups claim",
			claims: map[string]any{"groups": nil},
			want:   idp.Identity{Subject: "user-123", Name: "Alice Example", Email: "alice@example.com"},
		},
		{
			name: "custom names, nested and namespaced claims",
			names: idp.ClaimNames{
				Subject: "oid", Name: "display_name", Email: "upn",
				Groups: "realm_access.groups", Roles: "https://example.com/roles",
			},
			claims: map[string]any{
				"sub": "ignored", "oid": "00000000-0000-0000-0000-000000000001",
				"display_name": "Bob", "upn": "bob@corp.example",
				"realm_access":              map[string]any{"groups": []string{"Admins"}},
				"https://example.com/roles": "Developer",
			},
			want: idp.Identity{
				Subject: "00000000-0000-0000-0000-000000000001", Name: "Bob", Email: "bob@corp.example",
				Groups: []string{"Admins"}, Roles: []string{"Developer"},
			},
		},
		{
			name:   "numeric subject keeps its digits",
			names:  idp.ClaimNames{Subject: "uid"},
			claims: map[string]any{"uid": json.Number("12345678901234567890")},
			want:   idp.Identity{Subject: "12345678901234567890", Name: "Alice Example", Email: "alice@example.com", Groups: []string{"Sales", "Finance"}},
		},
		{
			name:   "switched off with -",
			names:  idp.ClaimNames{Email: "-", Groups: "-", Roles: "-"},
			claims: map[string]any{"roles": []string{"x"}},
			want:   idp.Identity{Subject: "user-123", Name: "Alice Example"},
		},
		{
			name:   "email_verified false: the email is marked unverified",
			claims: map[string]any{"email_verified": false, "groups": nil},
			want:   idp.Identity{Subject: "user-123", Name: "Alice Example", Email: "alice@example.com", EmailUnverified: true},
		},
		{
			name:   "email_verified as the string false (some providers)",
			claims: map[string]any{"email_verified": "False", "groups": nil},
			want:   idp.Identity{Subject: "user-123", Name: "Alice Example", Email: "alice@example.com", EmailUnverified: true},
		},
		{
			name:   "email_verified true or absent: as given",
			claims: map[string]any{"email_verified": true, "groups": nil},
			want:   idp.Identity{Subject: "user-123", Name: "Alice Example", Email: "alice@example.com"},
		},
		{
			name:   "custom subject missing",
			names:  idp.ClaimNames{Subject: "oid"},
			claims: nil,
			code:   idp.CodeMalformed,
		},
		{
			name:   "subject of the wrong type",
			claims: map[string]any{"sub": []string{"a"}},
			code:   idp.CodeMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, ti.URL(), tt.names)
			id, err := v.Verify(ctx, sign(t, k, ti.claims(tt.claims)))
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id.Expiry = time.Time{}
			if !reflect.DeepEqual(id, tt.want) {
				t.Fatalf("identity\n%+v, want\n%+v", id, tt.want)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	ti := newTestIssuer(t)
	v := newVerifier(t, ti.URL(), idp.ClaimNames{})
	ctx := context.Background()
	oldKey, newKey := key(t, 0), key(t, 2)

	oldToken := sign(t, oldKey, ti.claims(nil))
	if _, err := v.Verify(ctx, oldToken); err != nil {
		t.Fatal(err)
	}
	newToken := sign(t, newKey, ti.claims(nil))
	if _, err := v.Verify(ctx, newToken); err == nil {
		t.Fatal("a token of an unpublished key verified")
	}

	// Rotation: both keys published for a while, then the old one is gone.
	ti.publish(newKey, oldKey)
	eventually(t, "the new key's token verifies", func() error {
		_, err := v.Verify(ctx, newToken)
		return err
	})
	hits := ti.jwksHits.Load()
	for range 3 {
		if _, err := v.Verify(ctx, newToken); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, oldToken); err != nil {
			t.Fatal(err)
		}
	}
	if got := ti.jwksHits.Load(); got != hits {
		t.Fatalf("JWKS fetched %d more times for known keys", got-hits)
	}

	ti.publish(newKey)
	// The cached set holds the old key until a refresh, which a token naming
	// an unknown kid triggers.
	unknown := sign(t, key(t, 3), ti.claims(nil))
	eventually(t, "the old key's token is rejected", func() error {
		if _, err := v.Verify(ctx, unknown); err == nil {
			t.Fatal("unknown key verified")
		}
		_, err := v.Verify(ctx, oldToken)
		if err == nil {
			return errors.New("verified")
		}
		wantCode(t, err, idp.CodeInvalidSignature)
		return nil
	})
	if _, err := v.Verify(ctx, newToken); err != nil {
		t.Fatal(err)
	}
}

// eventually retries f for a while. go-oidc hands the result of a JWKS fetch
// that has just finished to callers arriving in the instant before it clears
// its in-flight marker, so a refresh right after another may see the older
// set (a window of microseconds, wider under the race detector).
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDiscovery(t *testing.T) {
	ctx := context.Background()
	k := key(t, 0)

	t.Run("lazy, fails with issuer_unavailable, recovers", func(t *testing.T) {
		ti := newTestIssuer(t)
		ti.discoveryDown.Store(true)
		v := newVerifier(t, ti.URL(), idp.ClaimNames{})
		if n := ti.discoveryHits.Load(); n != 0 {
			t.Fatalf("NewVerifier made %d discovery requests", n)
		}
		tok := sign(t, k, ti.claims(nil))
		_, err := v.Verify(ctx, tok)
		ie := wantCode(t, err, idp.CodeIssuerUnavailable)
		if !ie.Unavailable() || ie.HTTPStatus() != http.StatusServiceUnavailable || !idp.IsUnavailable(err) {
			t.Fatalf("%v not reported as unavailable", ie)
		}
		if err := v.Discover(ctx); !idp.IsUnavailable(err) {
			t.Fatalf("Discover: %v", err)
		}
		// Malformed tokens are told apart without the issuer.
		_, err = v.Verify(ctx, "garbage")
		wantCode(t, err, idp.CodeMalformed)

		ti.discoveryDown.Store(false)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		hits := ti.discoveryHits.Load()
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := v.Discover(ctx); err != nil {
			t.Fatal(err)
		}
		if ti.discoveryHits.Load() != hits {
			t.Fatal("discovery repeated after success")
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ln.Addr().String()
		ln.Close()
		v := newVerifier(t, url, idp.ClaimNames{})
		tok := sign(t, k, map[string]any{"iss": url, "aud": testClientID, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
		_, err = v.Verify(ctx, tok)
		wantCode(t, err, idp.CodeIssuerUnavailable)
	})

	t.Run("caller gives up", func(t *testing.T) {
		ti := newTestIssuer(t)
		v := newVerifier(t, ti.URL(), idp.ClaimNames{})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := v.Verify(cctx, sign(t, k, ti.claims(nil)))
		if err != nil {
			wantCode(t, err, idp.CodeIssuerUnavailable)
		}
		if _, err := v.Verify(ctx, sign(t, k, ti.claims(nil))); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("issuer mismatch", func(t *testing.T) {
		ti := newTestIssuer(t)
		ti.setIssuerDoc("https://elsewhere.example.com")
		v := newVerifier(t, ti.URL(), idp.ClaimNames{})
		_, err := v.Verify(ctx, sign(t, k, ti.claims(nil)))
		ie := wantCode(t, err, idp.CodeIssuerUnavailable)
		if !strings.Contains(ie.Message, "https://elsewhere.example.com") {
			t.Fatalf("message %q does not name the discovered issuer", ie.Message)
		}
	})

	t.Run("JWKS unreachable", func(t *testing.T) {
		ti := newTestIssuer(t)
		v := newVerifier(t, ti.URL(), idp.ClaimNames{})
		if _, err := v.Verify(ctx, sign(t, k, ti.claims(nil))); err != nil {
			t.Fatal(err)
		}
		ti.jwksDown.Store(true)
		// Known key: verified from the cache.
		if _, err := v.Verify(ctx, sign(t, k, ti.claims(nil))); err != nil {
			t.Fatal(err)
		}
		// Unknown key: the refresh fails, so nobody can tell.
		unknown := sign(t, key(t, 1), ti.claims(nil))
		eventually(t, "issuer_unavailable", func() error {
			_, err := v.Verify(ctx, unknown)
			if idp.IsUnavailable(err) {
				return nil
			}
			return fmt.Errorf("got %v", err)
		})
	})

	t.Run("concurrent first use discovers once", func(t *testing.T) {
		ti := newTestIssuer(t)
		v := newVerifier(t, ti.URL(), idp.ClaimNames{})
		tok := sign(t, k, ti.claims(nil))
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				if _, err := v.Verify(ctx, tok); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := ti.discoveryHits.Load(); n != 1 {
			t.Fatalf("%d discovery requests", n)
		}
	})
}

func TestNewVerifierConfig(t *testing.T) {
	for _, cfg := range []idp.Config{
		{IssuerURL: "", ClientID: "c"},
		{IssuerURL: "issuer.example.com", ClientID: "c"},
		{IssuerURL: "ftp://issuer.example.com", ClientID: "c"},
		{IssuerURL: "https://issuer.example.com?x=1", ClientID: "c"},
		{IssuerURL: "https://issuer.example.com", ClientID: " "},
	} {
		if _, err := idp.NewVerifier(cfg); err == nil {
			t.Errorf("NewVerifier(%+v) accepted", cfg)
		}
	}
}
