package idp_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rulekeeper/rulekeeper/idp"
)

const devClientID = "rulekeeper"

// devServer is a server like `serve --dev`: the dev issuer mounted at
// /dev/oidc, its URL known (and the issuer and verifier built) before it
// listens.
type devServer struct {
	srv      *httptest.Server
	issuer   *idp.DevIssuer
	verifier *idp.Verifier
}

func newDevServer(t *testing.T, dataDir string) *devServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	iss, err := idp.NewDevIssuer(dataDir, base+idp.DevMountPath, devClientID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := idp.NewVerifier(idp.Config{IssuerURL: iss.Issuer(), ClientID: devClientID})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(idp.DevMountPath+"/", http.StripPrefix(idp.DevMountPath, iss.Handler()))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return &devServer{srv: srv, issuer: iss, verifier: v}
}

func TestDevIssuerRoundTrip(t *testing.T) {
	ds := newDevServer(t, t.TempDir())
	ctx := context.Background()

	tests := []struct {
		name   string
		user   string
		groups []string
		email  string
		want   idp.Identity
	}{
		{"groups", "alice", []string{"Sales", "Finance"}, "",
			idp.Identity{Subject: "dev|alice", Name: "alice", Email: "alice@example.com", Groups: []string{"Sales", "Finance"}}},
		{"no groups, email", "bob", nil, "bob@corp.example",
			idp.Identity{Subject: "dev|bob", Name: "bob", Email: "bob@corp.example"}},
		{"messy groups", "carol", []string{" Sales", "Sales", "", "A,B"}, "",
			idp.Identity{Subject: "dev|carol", Name: "carol", Email: "carol@example.com", Groups: []string{"Sales", "A", "B"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := idp.FetchDevToken(ctx, ds.srv.URL+"/", tt.user, tt.groups, tt.email)
			if err != nil {
				t.Fatal(err)
			}
			id, err := ds.verifier.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Until(id.Expiry); d < 59*time.Minute || d > 61*time.Minute {
				t.Fatalf("expires in %v", d)
			}
			id.Expiry = time.Time{}
			if !reflect.DeepEqual(id, tt.want) {
				t.Fatalf("identity\n%+v, want\n%+v", id, tt.want)
			}
			if idp.DevSubject(tt.user) != tt.want.Subject {
				t.Fatalf("DevSubject(%q) = %q", tt.user, idp.DevSubject(tt.user))
			}
		})
	}
}

func TestDevIssuerEndpoints(t *testing.T) {
	ds := newDevServer(t, t.TempDir())
	base := ds.srv.URL + idp.DevMountPath

	t.Run("discovery", func(t *testing.T) {
		var doc map[string]any
		getJSON(t, base+"/.well-known/openid-configuration", &doc)
		if doc["issuer"] != ds.issuer.Issuer() || doc["jwks_uri"] != base+"/jwks" || doc["token_endpoint"] != base+"/token" {
			t.Fatalf("discovery document %v", doc)
		}
	})

	t.Run("jwks", func(t *testing.T) {
		var set jose.JSONWebKeySet
		getJSON(t, base+"/jwks", &set)
		if len(set.Keys) != 1 {
			t.Fatalf("%d keys", len(set.Keys))
		}
		k := set.Keys[0]
		if !k.IsPublic() || k.Algorithm != "RS256" || k.Use != "sig" {
			t.Fatalf("key %+v", k)
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if kid := base64.RawURLEncoding.EncodeToString(tp); k.KeyID != kid || ds.issuer.KeyID() != kid {
			t.Fatalf("kid %q, KeyID() %q, thumbprint %q", k.KeyID, ds.issuer.KeyID(), kid)
		}
	})

	t.Run("token, form", func(t *testing.T) {
		resp, err := http.PostForm(base+"/token", url.Values{"user": {"dave"}, "groups": {"A, B", "C"}, "email": {"d@x.example"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
			IDToken     string `json:"id_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 ||
			tr.AccessToken == "" || tr.IDToken != tr.AccessToken || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s %+v", resp.Status, tr)
		}
		id, err := ds.verifier.Verify(context.Background(), tr.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if id.Subject != "dev|dave" || id.Email != "d@x.example" || !reflect.DeepEqual(id.Groups, []string{"A", "B", "C"}) {
			t.Fatalf("identity %+v", id)
		}
	})

	errorCases := []struct {
		name, method, path, contentType, body string
		status                                int
		code, field                           string
	}{
		{"no user", "POST", "/token", "application/json", `{"groups":"a"}`, 400, "invalid_request", "user"},
		{"blank user (form)", "POST", "/token", "application/x-www-form-urlencoded", `user=+`, 400, "invalid_request", "user"},
		{"control character", "POST", "/token", "application/json", `{"user":"a\u0007"}`, 400, "invalid_request", "user"},
		{"too many groups", "POST", "/token", "application/json", `{"user":"a","groups":"` + manyGroups(65) + `"}`, 400, "invalid_request", "groups"},
		{"long group", "POST", "/token", "application/json", `{"user":"a","groups":["` + strings.Repeat("g", 129) + `"]}`, 400, "invalid_request", "groups"},
		{"bad email", "POST", "/token", "application/json", `{"user":"a","email":"nope"}`, 400, "invalid_request", "email"},
		{"groups of the wrong type", "POST", "/token", "application/json", `{"user":"a","groups":3}`, 400, "invalid_request", ""},
		{"unknown field", "POST", "/token", "application/json", `{"user":"a","admin":true}`, 400, "invalid_request", ""},
		{"not JSON", "POST", "/token", "application/json", `{`, 400, "invalid_request", ""},
		{"oversize", "POST", "/token", "application/json", `{"user":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "body_too_large", ""},
		{"media type", "POST", "/token", "text/plain", `user=a`, 415, "unsupported_media_type", ""},
		{"GET token", "GET", "/token", "", "", 405, "method_not_allowed", ""},
		{"POST jwks", "POST", "/jwks", "", "", 405, "method_not_allowed", ""},
		{"unknown path", "GET", "/userinfo", "", "", 404, "not_found", ""},
		{"authorize without PKCE", "GET", "/authorize?response_type=code&client_id=rulekeeper", "", "", 400, "invalid_request", ""},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Code    string         `json:"code"`
				Message string         `json:"message"`
				Details map[string]any `json:"details"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || e.Code != tt.code || e.Message == "" {
				t.Fatalf("%s %+v, want %d %s", resp.Status, e, tt.status, tt.code)
			}
			if tt.field != "" && e.Details["field"] != tt.field {
				t.Fatalf("details %v, want field %s", e.Details, tt.field)
			}
		})
	}

	t.Run("unstripped mount", func(t *testing.T) {
		srv := httptest.NewServer(ds.issuer.Handler())
		defer srv.Close()
		var set jose.JSONWebKeySet
		getJSON(t, srv.URL+idp.DevMountPath+"/jwks", &set)
		if len(set.Keys) != 1 {
			t.Fatalf("%d keys", len(set.Keys))
		}
	})
}

func manyGroups(n int) string {
	var gs []string
	for i := range n {
		gs = append(gs, "g"+strconv.Itoa(i))
	}
	return strings.Join(gs, ",")
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestDevIssuerKeyPersisted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created on demand
	first, err := idp.NewDevIssuer(dir, "http://127.0.0.1:1/dev/oidc", devClientID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, idp.DevKeyFile)
	if first.KeyPath() != path {
		t.Fatalf("KeyPath %q, want %q", first.KeyPath(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	pemBefore, _ := os.ReadFile(path)

	// A token minted before a restart verifies after it.
	tok, err := first.Mint(idp.Identity{Name: "erin", Groups: []string{"Marketing"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ds := newDevServer(t, dir)
	if ds.issuer.KeyID() != first.KeyID() {
		t.Fatalf("kid changed across restarts: %q then %q", first.KeyID(), ds.issuer.KeyID())
	}
	if pemAfter, _ := os.ReadFile(path); string(pemAfter) != string(pemBefore) {
		t.Fatal("key file rewritten")
	}
	// The token names the first issuer URL; re-mint the same identity at the
	// restarted server's URL and check that both were signed with one key.
	tok2, err := ds.issuer.Mint(idp.Identity{Name: "erin", Groups: []string{"Marketing"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if headerKID(t, tok) != headerKID(t, tok2) {
		t.Fatal("tokens signed with different keys")
	}
	id, err := ds.verifier.Verify(context.Background(), tok2)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "dev|erin" || !reflect.DeepEqual(id.Groups, []string{"Marketing"}) {
		t.Fatalf("identity %+v", id)
	}
	if d := time.Until(id.Expiry); d > time.Minute+time.Second {
		t.Fatalf("ttl ignored: expires in %v", d)
	}
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Alg, Kid, Typ string
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if h.Alg != "RS256" || h.Typ != "JWT" || h.Kid == "" {
		t.Fatalf("header %+v", h)
	}
	return h.Kid
}

func TestDevIssuerMintRoles(t *testing.T) {
	ds := newDevServer(t, t.TempDir())
	v, err := idp.NewVerifier(idp.Config{IssuerURL: ds.issuer.Issuer(), ClientID: devClientID, Claims: idp.ClaimNames{Roles: "roles"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ds.issuer.Mint(idp.Identity{Subject: "custom-sub", Name: "Frank", Roles: []string{"Developer"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	id.Expiry = time.Time{}
	want := idp.Identity{Subject: "custom-sub", Name: "Frank", Email: "Frank@example.com", Roles: []string{"Developer"}}
	if !reflect.DeepEqual(id, want) {
		t.Fatalf("identity\n%+v, want\n%+v", id, want)
	}
	if _, err := ds.issuer.Mint(idp.Identity{}, 0); err == nil {
		t.Fatal("minted a token without name or subject")
	}
	// Another client's verifier rejects dev tokens: same path, same checks.
	other, err := idp.NewVerifier(idp.Config{IssuerURL: ds.issuer.Issuer(), ClientID: "someone-else"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Verify(context.Background(), tok)
	wantCode(t, err, idp.CodeInvalidAudience)
}

func TestDevIssuerPKCS1Key(t *testing.T) {
	dir := t.TempDir()
	k := key(t, 1)
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.priv)})
	if err := os.WriteFile(filepath.Join(dir, idp.DevKeyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	iss, err := idp.NewDevIssuer(dir, "http://127.0.0.1:1/dev/oidc", devClientID)
	if err != nil {
		t.Fatal(err)
	}
	if iss.KeyID() != k.kid || iss.ClientID() != devClientID {
		t.Fatalf("kid %q, want %q", iss.KeyID(), k.kid)
	}
}

func TestNewDevIssuerErrors(t *testing.T) {
	const iss = "http://127.0.0.1:1/dev/oidc"
	t.Run("data dir below a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(file, "data")
		_, err := idp.NewDevIssuer(dir, iss, devClientID)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, idp.DevKeyFile)) {
			t.Fatalf("error %v does not name the key path", err)
		}
	})
	t.Run("read-only data dir", func(t *testing.T) {
		if runtime.GOOS == "windows" || os.Geteuid() == 0 {
			t.Skip("permissions do not stop root (or Windows)")
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		_, err := idp.NewDevIssuer(dir, iss, devClientID)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, idp.DevKeyFile)) {
			t.Fatalf("error %v does not name the key path", err)
		}
	})
	t.Run("key path is a directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, idp.DevKeyFile), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := idp.NewDevIssuer(dir, iss, devClientID)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, idp.DevKeyFile)) {
			t.Fatalf("error %v does not name the key path", err)
		}
	})
	t.Run("corrupt key", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, idp.DevKeyFile), []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := idp.NewDevIssuer(dir, iss, devClientID)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, idp.DevKeyFile)) {
			t.Fatalf("error %v does not name the key path", err)
		}
	})
	t.Run("small key", func(t *testing.T) {
		dir := t.TempDir()
		small, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})
		if err := os.WriteFile(filepath.Join(dir, idp.DevKeyFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = idp.NewDevIssuer(dir, iss, devClientID)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, idp.DevKeyFile)) {
			t.Fatalf("error %v does not name the key path", err)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		for _, args := range [][3]string{
			{t.TempDir(), "not a url", devClientID},
			{t.TempDir(), iss, ""},
			{"", iss, devClientID},
		} {
			if _, err := idp.NewDevIssuer(args[0], args[1], args[2]); err == nil {
				t.Errorf("NewDevIssuer%q accepted", args)
			}
		}
	})
}

func TestFetchDevTokenErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("not in dev mode", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		_, err := idp.FetchDevToken(ctx, srv.URL, "alice", nil, "")
		if err == nil || !strings.Contains(err.Error(), "dev mode") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + ln.Addr().String()
		ln.Close()
		_, err = idp.FetchDevToken(ctx, u, "alice", nil, "")
		if err == nil || !strings.Contains(err.Error(), u) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		ds := newDevServer(t, t.TempDir())
		_, err := idp.FetchDevToken(ctx, ds.srv.URL, "alice", nil, "not-an-email")
		if err == nil || !strings.Contains(err.Error(), "email is not an email address") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("arguments", func(t *testing.T) {
		if _, err := idp.FetchDevToken(ctx, "http://127.0.0.1:1", " ", nil, ""); err == nil {
			t.Fatal("empty user accepted")
		}
		if _, err := idp.FetchDevToken(ctx, "127.0.0.1:8080", "alice", nil, ""); err == nil {
			t.Fatal("URL without scheme accepted")
		}
	})
}
