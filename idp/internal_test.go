package idp

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestGoOIDCRejectsForbiddenAlgs checks the second line of defence: tokens
// with "none" or HS256 that got past preparse would still be rejected by
// go-oidc's SupportedSigningAlgs, even though the issuer advertises them.
func TestGoOIDCRejectsForbiddenAlgs(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	iss, err := NewDevIssuer(t.TempDir(), "http://"+srv.Listener.Addr().String(), "client")
	if err != nil {
		t.Fatal(err)
	}
	dev := iss.Handler()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			writeJSON(w, http.StatusOK, map[string]any{
				"issuer": iss.Issuer(), "jwks_uri": iss.Issuer() + "/jwks",
				"id_token_signing_alg_values_supported": []string{"none", "HS256", "RS256"},
			})
			return
		}
		dev.ServeHTTP(w, r)
	})
	srv.Start()
	defer srv.Close()

	v, err := NewVerifier(Config{IssuerURL: iss.Issuer(), ClientID: "client"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	discovered, err := v.discovered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idv := discovered.idv
	good, err := iss.Mint(Identity{Name: "alice"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idv.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}

	der, err := x509.MarshalPKIXPublicKey(&iss.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: iss.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := jwt.Signed(signer).Claims(map[string]any{
		"iss": iss.Issuer(), "aud": "client", "sub": "dev|mallory", "exp": 4102444800,
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idv.Verify(ctx, hs); err == nil {
		t.Fatal("go-oidc accepted HS256")
	}
	// And through the front door, with the right code.
	if _, err := v.Verify(ctx, hs); err == nil || err.(*Error).Code != CodeInvalidSignature {
		t.Fatalf("Verify: %v", err)
	}
}
