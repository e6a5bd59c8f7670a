package store_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

func TestEmbeddedDataSurvivesARestart(t *testing.T) {
	if os.Getenv("RULEKEEPER_MONGO_URI") != "" {
		t.Skip("uses the embedded server on purpose")
	}
	ctx := context.Background()
	dir := t.TempDir()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	starts := 0
	start := func() (*store.Embedded, *store.Store) {
		starts++
		e, err := store.StartEmbedded(ctx, dir, logger)
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.Connect(ctx, e.URI(), "rulekeeper")
		if err != nil {
			e.Close()
			t.Fatalf("start %d: %v", starts, err)
		}
		return e, s
	}
	e, s := start()
	u := &store.User{Subject: "persist", Name: "Persistent"}
	if err := s.Users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	_ = s.Close(ctx)
	e.Close()

	e, s = start()
	defer e.Close()
	defer s.Close(ctx)
	got, err := s.Users.BySubject(ctx, "persist")
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got.ID != u.ID {
		t.Fatalf("after restart: id %s, want %s", got.ID, u.ID)
	}
}

func TestUnwritableDataDirIsNamed(t *testing.T) {
	// root writes anywhere, but nobody creates a directory below a regular file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "data")
	_, err := store.StartEmbedded(context.Background(), dir, slog.Default())
	if err == nil {
		t.Fatal("started with a data dir below a regular file")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name %s", err, dir)
	}
}

func TestUnreachableMongoFailsFast(t *testing.T) {
	start := time.Now()
	_, err := store.Connect(context.Background(), "mongodb://127.0.0.1:1/?connectTimeoutMS=500&serverSelectionTimeoutMS=500", "x")
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if !strings.Contains(err.Error(), "not reachable") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unclear error: %v", err)
	}
	// The URI's serverSelectionTimeoutMS wins over the 10 s default.
	if d := time.Since(start); d >= store.ConnectTimeout {
		t.Fatalf("took %v to give up: the URI's serverSelectionTimeoutMS=500 was not applied", d)
	}
}
