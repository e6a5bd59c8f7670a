package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestAPIKeysAreFoundByHashThroughTheLookup: a key is found by the hash of
// its secret, an unknown hash is not found, a deleted key's hash no longer
// names it, and a key written before the lookup existed is found once the
// database is opened again (IndexHashes).
func TestAPIKeysAreFoundByHashThroughTheLookup(t *testing.T) {
	ctx := context.Background()
	name := storetest.DatabaseName(t)
	s := storetest.Open(t, name)
	k := &store.APIKey{Description: "ci", OwnerID: "u1", Hash: "h-1", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.APIKeys.Create(ctx, k, 5); err != nil {
		t.Fatal(err)
	}
	got, err := s.APIKeys.ByHash(ctx, "h-1")
	if err != nil || got.ID != k.ID {
		t.Fatalf("ByHash(h-1) = %+v, %v; want key %s", got, err, k.ID)
	}
	if _, err := s.APIKeys.ByHash(ctx, "h-unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: err = %v, want ErrNotFound", err)
	}
	if err := s.APIKeys.Delete(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.APIKeys.ByHash(ctx, "h-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted key: err = %v, want ErrNotFound", err)
	}
	if n, err := s.Database().Collection("apikey_hashes").CountDocuments(ctx, bson.D{{Key: "_id", Value: "h-1"}}); err != nil || n != 0 {
		t.Fatalf("the deleted key's lookup: %d left (%v)", n, err)
	}

	// A database from before the lookup: a key without one, no marker.
	old := bson.D{{Key: "_id", Value: "k-old"}, {Key: "ownerId", Value: "u1"}, {Key: "hash", Value: "h-old"},
		{Key: "revoked", Value: false}, {Key: "expiresAt", Value: time.Now().Add(time.Hour)}, {Key: "version", Value: int64(1)}}
	if _, err := s.Database().Collection("apikeys").InsertOne(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Database().Collection("tenant").DeleteOne(ctx, bson.D{{Key: "_id", Value: "apikey-hashes"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.APIKeys.ByHash(ctx, "h-old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a key without a lookup is found by a scan (err %v): the lookup is not what answers", err)
	}
	again, err := store.Connect(ctx, storetest.URI(t), name)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(ctx)
	if got, err := again.APIKeys.ByHash(ctx, "h-old"); err != nil || got.ID != "k-old" {
		t.Fatalf("after reopening: ByHash(h-old) = %+v, %v; want k-old", got, err)
	}
}
