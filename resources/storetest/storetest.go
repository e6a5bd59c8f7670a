// Package storetest runs store-backed tests against a real MongoDB
// wire-protocol server: one FerretDB server process per test package
// (FerretDB's own server, built once from the module in go.mod by
// resources/ferretserver, SQLite files in a temporary directory, started
// when a test first needs it), or the MongoDB named by RULEKEEPER_MONGO_URI
// when that variable is set. Every test gets a fresh database, dropped when
// the test ends. A separate process rather than FerretDB inside the test
// binary: test binaries that do not link FerretDB and SQLite link in half
// the time, and `make test` links some thirty of them.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
// and in tests:
//
//	s := storetest.New(t)
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/ferretserver"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// server is the per-package database server, started by the first test
// that asks for it (URI, New, Open): test packages are separate processes,
// so this is one server per package, and a test binary whose tests need no
// database (a -run selection, a fuzz worker, -short) starts none.
var server struct {
	main bool // Main runs the tests
	once sync.Once
	uri  string
	err  error
	stop func()
}

// Main runs the package's tests and stops the database server afterwards,
// if a test started it.
func Main(m *testing.M) {
	server.main = true
	code := m.Run()
	if server.stop != nil {
		server.stop()
	}
	os.Exit(code)
}

func start() {
	if uri := os.Getenv("RULEKEEPER_MONGO_URI"); uri != "" {
		server.uri = uri
		return
	}
	wd, err := os.Getwd()
	if err != nil {
		server.err = err
		return
	}
	srv, err := ferretserver.Start(context.Background(), wd)
	if err != nil {
		server.err = err
		return
	}
	server.uri = srv.URI()
	server.stop = srv.Stop
}

// URI returns the address of the package's database server, starting the
// FerretDB process on first use.
func URI(t testing.TB) string {
	t.Helper()
	if !server.main {
		t.Fatal("storetest: call storetest.Main from TestMain")
	}
	server.once.Do(start)
	if server.err != nil {
		t.Fatalf("storetest: database server: %v", server.err)
	}
	return server.uri
}

var unsafe = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// DatabaseName returns a fresh database name for t.
func DatabaseName(t testing.TB) string {
	name := strings.ToLower(unsafe.ReplaceAllString(t.Name(), "_"))
	if len(name) > 30 {
		name = name[:30]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(b))
}

// New connects to a fresh database and drops it when t ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, DatabaseName(t))
}

// Open connects to the database dbName (creating indexes) and drops it when
// t ends; two calls with one name give two handles on the same data, as two
// replicas would have.
func Open(t testing.TB, dbName string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Connect(ctx, URI(t), dbName)
	if err != nil {
		t.Fatalf("storetest: connect: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Database().Drop(ctx)
		_ = s.Close(ctx)
	})
	return s
}
