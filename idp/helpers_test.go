package idp_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const testClientID = "rulekeeper-test"

// testKey is an RSA signing key with its RFC 7638 kid.
type testKey struct {
	priv *rsa.PrivateKey
	kid  string
}

var (
	keyPoolOnce sync.Once
	keyPool     [4]*testKey
)

// key returns one of a few RSA keys generated once per test binary
// (generating RSA keys is the slow part of these tests).
func key(t testing.TB, i int) *testKey {
	t.Helper()
	keyPoolOnce.Do(func() {
		var wg sync.WaitGroup
		for i := range keyPool {
			wg.Go(func() {
				priv, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				tp, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
				if err != nil {
					panic(err)
				}
				keyPool[i] = &testKey{priv: priv, kid: base64.RawURLEncoding.EncodeToString(tp)}
			})
		}
		wg.Wait()
	})
	return keyPool[i]
}

// testIssuer is a real OIDC issuer in-process: discovery and JWKS over HTTP,
// tokens signed with go-jose.
type testIssuer struct {
	srv *httptest.Server

	mu        sync.Mutex
	published []*testKey
	issuerDoc string // the issuer the discovery document claims; default the URL

	discoveryDown atomic.Bool
	jwksDown      atomic.Bool
	discoveryHits atomic.Int32
	jwksHits      atomic.Int32
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	ti := &testIssuer{published: []*testKey{key(t, 0)}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ti.discoveryHits.Add(1)
		if ti.discoveryDown.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		ti.mu.Lock()
		iss := ti.issuerDoc
		ti.mu.Unlock()
		if iss == "" {
			iss = ti.URL()
		}
		writeTestJSON(w, map[string]any{
			"issuer":                                iss,
			"jwks_uri":                              ti.URL() + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		if ti.jwksDown.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		ti.mu.Lock()
		var set jose.JSONWebKeySet
		for _, k := range ti.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
		}
		ti.mu.Unlock()
		writeTestJSON(w, set)
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (ti *testIssuer) URL() string { return ti.srv.URL }

// setIssuerDoc makes the discovery document claim another issuer.
func (ti *testIssuer) setIssuerDoc(iss string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.issuerDoc = iss
}

// publish replaces the published keys (a rotation).
func (ti *testIssuer) publish(keys ...*testKey) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.published = keys
}

// claims are valid claims for this issuer, with overrides (nil deletes).
func (ti *testIssuer) claims(overrides map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":    ti.URL(),
		"aud":    testClientID,
		"sub":    "user-123",
		"name":   "Alice Example",
		"email":  "alice@example.com",
		"groups": []string{"Sales", "Finance"},
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
	}
	maps.Copy(c, overrides)
	for k, v := range c {
		if v == nil {
			delete(c, k)
		}
	}
	return c
}

// sign signs claims with k (RS256, kid = k.kid unless kid is given).
func sign(t testing.TB, k *testKey, claims any, kid ...string) string {
	t.Helper()
	id := k.kid
	if len(kid) > 0 {
		id = kid[0]
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: id}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned builds a compact JWS from a raw header, claims and signature.
func unsigned(header map[string]any, claims any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}
