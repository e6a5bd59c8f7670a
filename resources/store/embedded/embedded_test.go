package embedded_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
)

func TestEmbeddedDataSurvivesARestart(t *testing.T) {
	if os.Getenv("RULEKEEPER_MONGO_URI") != "" {
		t.Skip("uses the embedded server on purpose")
	}
	ctx := context.Background()
	dir := t.TempDir()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	starts := 0
	start := func() (*embedded.Server, *store.Store) {
		starts++
		e, err := embedded.Start(ctx, dir, logger)
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
	_, err := embedded.Start(context.Background(), dir, slog.Default())
	if err == nil {
		t.Fatal("started with a data dir below a regular file")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name %s", err, dir)
	}
}
