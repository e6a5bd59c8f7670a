package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// Two handles on one database are two replicas: of two compare-and-swap
// updates from the same version, racing through different handles, exactly
// one applies, in every trial (the embedded FerretDB alone would let both).
func TestCompareAndSwapIsAtomicAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	name := storetest.DatabaseName(t)
	a, b := storetest.Open(t, name), storetest.Open(t, name)
	trials := 20
	if testing.Short() {
		trials = 8
	}
	for trial := range trials {
		r := &store.Rule{Name: "r", ResourceFilter: "App_*", Condition: "true", Actions: []string{"read"}, Context: "both"}
		if err := a.Rules.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, s := range []*store.Store{a, b} {
			wg.Go(func() {
				<-start
				edit := *r
				edit.Description = []string{"from a", "from b"}[i]
				_, errs[i] = s.Rules.Replace(ctx, r.ID, 1, &edit)
			})
		}
		close(start)
		wg.Wait()
		applied := 0
		for _, err := range errs {
			switch {
			case err == nil:
				applied++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("trial %d: %v", trial, err)
			}
		}
		got, err := a.Rules.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if applied != 1 || got.Version != 2 {
			t.Fatalf("trial %d: %d updates applied, version %d; want exactly 1 and version 2", trial, applied, got.Version)
		}
	}
}

// A lock is exclusive across handles, waits for its holder, gives up when
// the context ends, and is taken over once its holder is older than TTL.
func TestLocks(t *testing.T) {
	ctx := context.Background()
	name := storetest.DatabaseName(t)
	a, b := storetest.Open(t, name), storetest.Open(t, name)
	release, err := a.Locks.Acquire(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.Locks.Acquire(short, "x"); !errors.Is(err, store.ErrLockTimeout) {
		t.Fatalf("second holder: err = %v, want ErrLockTimeout", err)
	}
	got := make(chan error, 1)
	go func() {
		rel, err := b.Locks.Acquire(ctx, "x")
		if err == nil {
			rel()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-got; err != nil {
		t.Fatalf("after release: %v", err)
	}

	// A holder that never releases (a crashed replica) is taken over.
	if _, err := a.Locks.Acquire(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	b.Locks.TTL = 30 * time.Millisecond
	rel, err := b.Locks.Acquire(ctx, "y")
	if err != nil {
		t.Fatalf("take over a dead holder's lock: %v", err)
	}
	rel()
}

// Counters bumped by many writers through two handles lose no increment.
func TestRevisionBumpsAreNotLostAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	name := storetest.DatabaseName(t)
	a, b := storetest.Open(t, name), storetest.Open(t, name)
	var wg sync.WaitGroup
	for i := range 10 {
		s := []*store.Store{a, b}[i%2]
		wg.Go(func() {
			if _, err := s.Rules.BumpRules(ctx, fmt.Sprintf("r%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, err := a.Rules.Revision(ctx); err != nil || n != 10 {
		t.Fatalf("rules revision = %d, %v; want 10", n, err)
	}
	// The shared change log has one entry per revision, each naming its
	// rule, in revision order.
	rulesLog := func() []store.Change {
		head, err := b.Changes.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []store.Change
		for n := int64(1); n <= head; n++ {
			ch, err := b.Changes.Get(ctx, n)
			if err != nil {
				t.Fatalf("change %d: %v", n, err)
			}
			if ch.Area == store.AreaRules {
				out = append(out, *ch)
			}
		}
		return out
	}
	changes := rulesLog()
	if len(changes) != 10 {
		t.Fatalf("%d rules changes, want 10: %+v", len(changes), changes)
	}
	named := map[string]bool{}
	for i, ch := range changes {
		if ch.Rev != int64(i+1) || ch.DocID == "" || named[ch.DocID] {
			t.Fatalf("change %d: %+v", i+1, ch)
		}
		named[ch.DocID] = true
	}
	if _, err := a.Rules.Bump(ctx); err != nil {
		t.Fatal(err)
	}
	if changes = rulesLog(); len(changes) != 11 || changes[10].Rev != 11 || changes[10].DocID != "" {
		t.Fatalf("a bump of every rule: %+v", changes[len(changes)-1])
	}
}
