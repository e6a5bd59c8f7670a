// Package servicetest starts a whole rulekeeper in-process for HTTP tests:
// the real service on a loopback port, against the package's test database
// server (see storetest) with a fresh database, optionally in dev mode with
// the demo tenant, and helpers to call it as any demo user.
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
//	func TestX(t *testing.T) {
//		d := servicetest.Dev(t)
//		var me map[string]any
//		status := d.Call("alice", "GET", "/api/v1/users/me", nil, &me)
//	}
package servicetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// Start runs a service on a free loopback port against a fresh database;
// mutate adjusts the configuration first.
func Start(t testing.TB, mutate func(*service.Config)) *service.Service {
	t.Helper()
	dataDir := t.TempDir()
	cfg := service.Config{
		Addr:     "127.0.0.1:0",
		DataDir:  dataDir,
		MongoURI: storetest.URI(t),
		MongoDB:  storetest.DatabaseName(t),
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		// Discovery is lazy: tests without tokens never reach this issuer.
		IssuerURL: "http://127.0.0.1:1/no-issuer",
		ClientID:  "rulekeeper",
		// The database deadlines of production (2 s for a decision, 5 s
		// for a write) turned a test machine at load 35 into 503s; a test
		// of the deadlines sets its own.
		DecisionTimeout: 30 * time.Second,
		WriteTimeout:    30 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if cfg.CompileCache == nil {
		cfg.CompileCache = compileCache
	}
	if cfg.Dev && cfg.DataDir == dataDir {
		shareDevKey(t, dataDir)
	}
	svc, err := service.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = svc.Store.Database().Drop(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Shutdown(ctx)
	})
	return svc
}

// compileCache is shared by every service this test binary starts: they
// compile the same policies with, mostly, the same rules module, and a
// compilation was most of a service's start-up CPU.
var compileCache = authz.NewCompileCache(32)

// devKey is the dev issuer's signing key of every dev-mode service this
// test binary starts in a directory of its own: generating a 2048-bit RSA
// key for each was a tenth of a service's start-up CPU. Each service still
// has its own issuer URL, so a token of one is refused by another.
var devKey struct {
	once sync.Once
	pem  []byte
	err  error
}

// shareDevKey writes the binary's dev signing key into dataDir.
func shareDevKey(t testing.TB, dataDir string) {
	t.Helper()
	devKey.once.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			devKey.err = err
			return
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		devKey.pem, devKey.err = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), err
	})
	if devKey.err != nil {
		t.Fatalf("servicetest: dev signing key: %v", devKey.err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, idp.DevKeyFile), devKey.pem, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Tenant is a dev-mode service with the demo tenant seeded.
type Tenant struct {
	t      testing.TB
	Svc    *service.Service
	tokens map[string]string
	Users  map[string]*store.User // by name
	Apps   map[string]*store.App  // by name
	Spaces map[string]*store.Space
}

// Dev starts a dev-mode service and loads the demo tenant's ids.
func Dev(t testing.TB) *Tenant {
	t.Helper()
	return DevWith(t, nil)
}

// DevWith is Dev with the configuration adjusted by mutate first.
func DevWith(t testing.TB, mutate func(*service.Config)) *Tenant {
	t.Helper()
	svc := Start(t, func(c *service.Config) {
		c.Dev = true
		if mutate != nil {
			mutate(c)
		}
	})
	d := &Tenant{t: t, Svc: svc, tokens: map[string]string{}, Users: map[string]*store.User{},
		Apps: map[string]*store.App{}, Spaces: map[string]*store.Space{}}
	ctx := context.Background()
	all, err := svc.Store.Users.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		d.Users[all[i].Name] = &all[i]
	}
	apps, _, err := svc.Store.Apps.List(ctx, store.AppFilter{}, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range apps {
		d.Apps[apps[i].Name] = &apps[i]
	}
	spaces, _, err := svc.Store.Spaces.List(ctx, store.SpaceFilter{}, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range spaces {
		d.Spaces[spaces[i].Name] = &spaces[i]
	}
	return d
}

// Replica starts a second service on d's database, as another replica
// behind the same load balancer: not in dev mode, polling the rules
// revision every 200 ms, verifying the dev license key.
func (d *Tenant) Replica() *service.Service {
	d.t.Helper()
	return d.ReplicaWith(nil)
}

// ReplicaWith is Replica with the configuration adjusted by mutate first.
func (d *Tenant) ReplicaWith(mutate func(*service.Config)) *service.Service {
	d.t.Helper()
	return Start(d.t, func(c *service.Config) {
		c.MongoDB = d.Svc.Store.Database().Name()
		c.RulesPoll = 200 * time.Millisecond
		pub, _ := licenses.DevKeyPair()
		c.LicensePublicKey = base64.StdEncoding.EncodeToString(pub)
		if mutate != nil {
			mutate(c)
		}
	})
}

// URL is the service's base URL.
func (d *Tenant) URL() string { return d.Svc.URL() }

// Token returns a dev token for user (minted once per test).
func (d *Tenant) Token(user string) string {
	d.t.Helper()
	if tok, ok := d.tokens[user]; ok {
		return tok
	}
	tok, err := idp.FetchDevToken(context.Background(), d.Svc.URL(), user, nil, "")
	if err != nil {
		d.t.Fatal(err)
	}
	d.tokens[user] = tok
	return tok
}

// SetToken replaces the token used for user.
func (d *Tenant) SetToken(user, token string) { d.tokens[user] = token }

// Call sends a request as user ("" for none; a value starting with "rk_"
// or "Bearer " is used as the credential itself) with body (nil, a string
// sent as is, or a value sent as JSON) and decodes the JSON answer into out
// (may be nil). It returns the status code.
func (d *Tenant) Call(user, method, path string, body any, out any) int {
	d.t.Helper()
	status, raw := d.Send(user, method, path, body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: %d, body is not JSON: %s", method, path, status, raw)
		}
	}
	return status
}

// Send sends a request like Call and returns the status and the body as
// read, for a caller that decodes it by status.
func (d *Tenant) Send(user, method, path string, body any) (int, []byte) {
	d.t.Helper()
	res := d.Do(user, method, path, body, nil)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// Create POSTs body to path as user and returns the created T; anything
// but 201 fails the test with the API's error. One request: retrying it to
// read the error could create a second resource.
func Create[T any](d *Tenant, user, path string, body any) T {
	d.t.Helper()
	var out T
	status, raw := d.Send(user, "POST", path, body)
	if status != 201 {
		var e Error
		_ = json.Unmarshal(raw, &e)
		d.t.Fatalf("POST %s as %s: %d %+v", path, user, status, e)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		d.t.Fatalf("POST %s as %s: 201, body is not JSON: %s", path, user, raw)
	}
	return out
}

// Do sends a request like Call with extra headers and returns the raw
// response; the caller closes its body.
func (d *Tenant) Do(user, method, path string, body any, headers map[string]string) *http.Response {
	d.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, d.Svc.URL()+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	switch {
	case user == "":
	case strings.HasPrefix(user, "rk_"):
		req.Header.Set("Authorization", "Bearer "+user)
	case strings.HasPrefix(user, "Bearer "):
		req.Header.Set("Authorization", user)
	default:
		req.Header.Set("Authorization", "Bearer "+d.Token(user))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	return res
}

// Error is the error body of every 4xx and 5xx.
type Error struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}
