package authz_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/rulekeeper/rulekeeper/authz"
)

// countingTenant counts the loads that reach a generated tenant.
type countingTenant struct {
	*planTenant
	resources atomic.Int64
}

func (c *countingTenant) Resource(ctx context.Context, typ, id string) (*authz.Resource, error) {
	c.resources.Add(1)
	return c.planTenant.Resource(ctx, typ, id)
}

// TestEntityCacheOwnsItsKeys: a caller's id may alias a buffer that is
// reused once its request ends (Fiber's zero-copy Query and Params). The
// entity cache must keep keys of its own: if it kept the caller's string,
// rewriting the buffer would rename the cached entry — the next question
// about the first resource would miss, and one about the second could be
// answered with the first's record (seen as bob reading carol's user record
// "as himself").
func TestEntityCacheOwnsItsKeys(t *testing.T) {
	ctx := context.Background()
	ten := &countingTenant{planTenant: genPlanTenant(rand.New(rand.NewPCG(7, 7)))}
	e := newEngine(t, authz.Options{Entities: ten, CacheSize: -1})
	first, second := ten.apps[0], ten.apps[1]
	if len(first.ID) != len(second.ID) {
		t.Fatalf("ids of different lengths: %q %q", first.ID, second.ID)
	}
	buf := []byte(first.ID)
	aliased := unsafe.String(&buf[0], len(buf))
	ask := func(id string) {
		t.Helper()
		req := authz.Request{Subject: authz.Subject{ID: "u0"}, Action: "read", Resource: authz.Resource{Type: "app", ID: id}, Environment: "hub"}
		if _, err := e.Decide(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	ask(aliased)
	copy(buf, second.ID) // the next request reuses the buffer
	before := ten.resources.Load()
	ask(first.ID)
	if n := ten.resources.Load() - before; n != 0 {
		t.Fatalf("asking about %s again loaded it %d more time(s): the cached key changed with the caller's buffer", first.ID, n)
	}
}
