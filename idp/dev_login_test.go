package idp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/idp"
)

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (string, string) {
	v := strings.Repeat(seed, 43/len(seed)+1)[:43]
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestDevIssuerAuthorizationCodeFlow(t *testing.T) {
	ds := newDevServer(t, t.TempDir())
	ds.issuer.ListUsers("admin", "alice")
	base := ds.srv.URL + idp.DevMountPath
	redirect := ds.srv.URL + "/console/"
	verifier, challenge := pkce("v3rifier-")
	params := url.Values{"response_type": {"code"}, "client_id": {devClientID}, "redirect_uri": {redirect},
		"state": {"st4te"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "scope": {"openid"}}

	var doc map[string]any
	getJSON(t, base+"/.well-known/openid-configuration", &doc)
	if doc["authorization_endpoint"] != base+"/authorize" {
		t.Fatalf("discovery has no authorization_endpoint: %v", doc)
	}

	// The login page lists the demo users.
	res, err := http.Get(base + "/authorize?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), `value="admin">Sign in as admin`) || !strings.Contains(string(page), "Sign in as alice") {
		t.Fatalf("login page %d: %s", res.StatusCode, page)
	}

	login := func(t *testing.T, user string) string {
		t.Helper()
		form := url.Values{}
		for k, v := range params {
			form[k] = v
		}
		form.Set("user", user)
		res, err := noRedirect().PostForm(base+"/authorize", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), redirect+"?") {
			t.Fatalf("POST /authorize = %d, Location %q", res.StatusCode, res.Header.Get("Location"))
		}
		if loc.Query().Get("state") != "st4te" || loc.Query().Get("code") == "" {
			t.Fatalf("redirect %s lacks code or state", loc)
		}
		return loc.Query().Get("code")
	}
	exchange := func(code, verifier, redirectURI string) (int, map[string]any) {
		res, err := http.PostForm(base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"code_verifier": {verifier}, "redirect_uri": {redirectURI}, "client_id": {devClientID}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}

	code := login(t, "alice")
	status, out := exchange(code, verifier, redirect)
	if status != 200 {
		t.Fatalf("exchange = %d %v", status, out)
	}
	id, err := ds.verifier.Verify(context.Background(), out["access_token"].(string))
	if err != nil || id.Name != "alice" || id.Subject != "dev|alice" {
		t.Fatalf("token verifies as %+v, %v", id, err)
	}
	if status, out := exchange(code, verifier, redirect); status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("second use of a code = %d %v", status, out)
	}

	for _, tt := range []struct{ name, verifier, redirect string }{
		{"wrong verifier", "x" + verifier[1:], redirect},
		{"other redirect", verifier, redirect + "x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code := login(t, "admin")
			if status, out := exchange(code, tt.verifier, tt.redirect); status != 400 || out["error"] != "invalid_grant" {
				t.Fatalf("exchange = %d %v", status, out)
			}
		})
	}

	for _, tt := range []struct{ name, key, value string }{
		{"foreign redirect", "redirect_uri", "http://evil.example/cb"},
		{"no PKCE", "code_challenge", ""},
		{"plain PKCE", "code_challenge_method", "plain"},
		{"other client", "client_id", "someone-else"},
		{"implicit flow", "response_type", "token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range params {
				q[k] = v
			}
			q.Set(tt.key, tt.value)
			q.Set("user", "alice")
			res, err := noRedirect().PostForm(base+"/authorize", q)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 400 || res.Header.Get("Location") != "" {
				t.Fatalf("= %d, Location %q; want 400 and no redirect", res.StatusCode, res.Header.Get("Location"))
			}
		})
	}
}
