package embedded_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
)

// TestEmbeddedLookupsByIDUseAnIndex: FerretDB v1.24's lookup by _id scans
// its SQLite table until IndexIDs created the index of the expression it
// queries; after it, SQLite's plan searches that index.
func TestEmbeddedLookupsByIDUseAnIndex(t *testing.T) {
	if os.Getenv("RULEKEEPER_MONGO_URI") != "" {
		t.Skip("uses the embedded server on purpose")
	}
	ctx := context.Background()
	dir := t.TempDir()
	e, err := embedded.Start(ctx, dir, slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s, err := store.Connect(ctx, e.URI(), "rulekeeper")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	u := &store.User{Subject: "indexed", Name: "Indexed"}
	if err := s.Users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	file := "file:" + filepath.Join(dir, "rulekeeper.sqlite")
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM "_ferretdb_collections" WHERE name = 'users'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Each plan on a new connection, as FerretDB's are when it starts.
	plan := func() string {
		t.Helper()
		db, err := sql.Open("sqlite", file)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "`+table+`" WHERE _ferretdb_sjson->'$._id' = ?`, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	if p := plan(); !strings.Contains(p, "SCAN") {
		t.Fatalf("before IndexIDs the plan is %q; FerretDB indexes _id itself now and IndexIDs may go", p)
	}
	for range 2 { // idempotent
		if err := e.IndexIDs(ctx, "rulekeeper"); err != nil {
			t.Fatal(err)
		}
	}
	if p := plan(); !strings.Contains(p, "USING INDEX") || strings.Contains(p, "SCAN") {
		t.Fatalf("after IndexIDs the plan is %q, want a search of the index", p)
	}
	if got, err := s.Users.Get(ctx, u.ID); err != nil || got.Name != "Indexed" {
		t.Fatalf("lookup through FerretDB after IndexIDs: %+v, %v", got, err)
	}
}
