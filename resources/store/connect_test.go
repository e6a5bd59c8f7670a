package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

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
