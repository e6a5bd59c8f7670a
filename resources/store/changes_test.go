package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// TestEveryWriteLogsItsChange: each repository write to users, groups,
// spaces, license keys, assignments and capacity minutes appends exactly
// one change naming its area and document; a write that changes nothing
// (a capacity minute counted already) and a read append nothing.
func TestEveryWriteLogsItsChange(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	u := &store.User{Subject: "s1", Name: "Ann"}
	g := &store.Group{Name: "Sales"}
	sp := &store.Space{Name: "Sales", Type: store.SpaceShared, OwnerID: "x"}
	minute := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	cases := []struct {
		name  string
		area  string        // "": nothing is logged
		doc   func() string // the document the change names
		write func() error
	}{
		{"create user", store.AreaUsers, func() string { return u.ID }, func() error { return s.Users.Create(ctx, u) }},
		{"update user", store.AreaUsers, func() string { return u.ID }, func() error {
			name := "Anne"
			_, err := s.Users.Update(ctx, u.ID, store.UserChange{Version: u.Version, Name: &name})
			return err
		}},
		{"create group", store.AreaGroups, func() string { return g.ID }, func() error { return s.Groups.Create(ctx, g) }},
		{"delete group", store.AreaGroups, func() string { return g.ID }, func() error { return s.Groups.Delete(ctx, g.ID) }},
		{"create space", store.AreaSpaces, func() string { return sp.ID }, func() error { return s.Spaces.Create(ctx, sp) }},
		{"update space", store.AreaSpaces, func() string { return sp.ID }, func() error {
			_, err := s.Spaces.Update(ctx, sp.ID, store.SpaceChange{Version: sp.Version, Members: []store.Member{{Type: "user", ID: u.ID, Roles: []string{"canview"}}}})
			return err
		}},
		{"delete space", store.AreaSpaces, func() string { return sp.ID }, func() error { return s.Spaces.Delete(ctx, s.Apps, sp.ID) }},
		{"apply key", store.AreaLicenses, func() string { return store.KeyDocID }, func() error {
			return s.LicenseKeys.Apply(ctx, &store.LicenseKey{ID: "k1", Raw: "raw"})
		}},
		{"assign", store.AreaLicenses, func() string { return "k1/" + u.ID }, func() error {
			_, err := s.Assignments.Add(ctx, "k1", u.ID, store.LicenseAnalyzer)
			return err
		}},
		{"upgrade", store.AreaLicenses, func() string { return "k1/" + u.ID }, func() error {
			_, err := s.Assignments.SetType(ctx, "k1", u.ID, store.LicenseProfessional)
			return err
		}},
		{"remove assignment", store.AreaLicenses, func() string { return "k1/" + u.ID }, func() error { return s.Assignments.Remove(ctx, "k1", u.ID) }},
		{"record a minute", store.AreaCapacity, func() string { return "k1/2026-01" }, func() error { return s.LicenseKeys.RecordMinute(ctx, "k1", u.ID, minute) }},
		{"record the same minute", "", nil, func() error { return s.LicenseKeys.RecordMinute(ctx, "k1", u.ID, minute.Add(time.Second)) }},
		{"a read", "", nil, func() error { _, err := s.Users.All(ctx); return err }},
	}
	for _, c := range cases {
		before, err := s.Changes.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.write(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		after, err := s.Changes.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.area == "" {
			if after != before {
				t.Errorf("%s: logged %d changes, want none", c.name, after-before)
			}
			continue
		}
		if after != before+1 {
			t.Errorf("%s: logged %d changes, want 1", c.name, after-before)
			continue
		}
		ch, err := s.Changes.Get(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Area != c.area || ch.DocID != c.doc() {
			t.Errorf("%s: logged %s %q, want %s %q", c.name, ch.Area, ch.DocID, c.area, c.doc())
		}
	}
	if n, err := s.LicenseKeys.MinutesUsed(ctx, "k1", minute); err != nil || n != 1 {
		t.Errorf("minutes used: %d, %v; want 1", n, err)
	}
}

// TestChangeLogSequenceIsGapless: two replicas appending at once claim
// every sequence exactly once, without a gap.
func TestChangeLogSequenceIsGapless(t *testing.T) {
	ctx := context.Background()
	db := storetest.DatabaseName(t)
	replicas := []*store.Store{storetest.Open(t, db), storetest.Open(t, db)}
	const each = 30
	var wg sync.WaitGroup
	seqs := make(chan int64, 2*each*2)
	for r, s := range replicas {
		for w := range 2 {
			wg.Go(func() {
				for i := range each {
					n, err := s.Changes.Append(ctx, store.AreaUsers, fmt.Sprintf("r%d-w%d-%d", r, w, i))
					if err != nil {
						t.Error(err)
						return
					}
					seqs <- n
				}
			})
		}
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for n := range seqs {
		if seen[n] {
			t.Fatalf("sequence %d claimed twice", n)
		}
		seen[n] = true
	}
	for n := int64(1); n <= 4*each; n++ {
		if !seen[n] {
			t.Fatalf("sequence %d missing (gap)", n)
		}
	}
	if head, err := replicas[0].Changes.Head(ctx); err != nil || head != 4*each {
		t.Fatalf("head %d, %v; want %d", head, err, 4*each)
	}
}

// TestSnapshotAppliesChangesByID: a snapshot is built once; another
// replica's writes reach it through the change log (applied by id, no
// rebuild) without Invalidate; this replica's write is seen by the very
// next read after Invalidate; a whole-area change (a bulk load) rebuilds.
func TestSnapshotAppliesChangesByID(t *testing.T) {
	ctx := context.Background()
	db := storetest.DatabaseName(t)
	here, there := storetest.Open(t, db), storetest.Open(t, db)
	here.Follower.Poll = 0 // a background catch-up on every read
	var applied atomic.Int64
	snap := store.NewSnapshot(here, func(ctx context.Context) (map[string]bool, error) {
		us, err := here.Users.All(ctx)
		m := map[string]bool{}
		for _, u := range us {
			m[u.ID] = true
		}
		return m, err
	}, func(ctx context.Context, m map[string]bool, cs []store.Change) (map[string]bool, error) {
		next := map[string]bool{}
		for id := range m {
			next[id] = true
		}
		for _, c := range cs {
			applied.Add(1)
			next[c.DocID] = true
		}
		return next, nil
	}, store.AreaUsers)
	get := func() int {
		t.Helper()
		m, err := snap.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	if n := get(); n != 0 {
		t.Fatalf("empty store: %d users", n)
	}
	for range 20 {
		get()
		time.Sleep(time.Millisecond)
	}
	if b := snap.Builds(); b != 1 {
		t.Fatalf("nothing changed, but %d builds", b)
	}
	if err := there.Users.Create(ctx, &store.User{Subject: "s1", Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for get() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("another replica's user unseen (%d builds, %d applied)", snap.Builds(), applied.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, a := snap.Builds(), applied.Load(); b != 1 || a != 1 {
		t.Fatalf("one write: %d builds, %d changes applied; want 1 and 1", b, a)
	}
	here.Follower.Poll = time.Hour
	if err := here.Users.Create(ctx, &store.User{Subject: "s2", Name: "Bo"}); err != nil {
		t.Fatal(err)
	}
	snap.Invalidate()
	if n := get(); n != 2 {
		t.Fatalf("after Invalidate: %d users, want 2", n)
	}
	if err := there.BulkLoad(ctx, store.Bulk{Users: []store.User{{ID: "bulk1", Subject: "bulk1"}}}); err != nil {
		t.Fatal(err)
	}
	snap.Invalidate()
	if n := get(); n != 3 || snap.Builds() != 2 {
		t.Fatalf("after a bulk load: %d users, %d builds; want 3 and 2", n, snap.Builds())
	}
	if u, err := here.Users.BySubject(ctx, "bulk1"); err != nil || u.ID != "bulk1" {
		t.Fatalf("bulk-loaded user by subject: %v, %v", u, err)
	}
}

// TestSnapshotNeverServesPastMaxAge is the idle replica of issue 13: a
// snapshot whose last catch-up is older than MaxAge is not served; the
// first read after the pause waits and sees another replica's write, and
// a reader whose deadline ends first gets an error, never the old value.
func TestSnapshotNeverServesPastMaxAge(t *testing.T) {
	ctx := context.Background()
	db := storetest.DatabaseName(t)
	here, there := storetest.Open(t, db), storetest.Open(t, db)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	here.Follower.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	here.Follower.Poll = time.Hour
	snap := store.NewSnapshot(here, func(ctx context.Context) (int, error) {
		us, err := here.Users.All(ctx)
		return len(us), err
	}, nil, store.AreaUsers)
	if n, err := snap.Get(ctx); err != nil || n != 0 {
		t.Fatalf("empty store: %d users, %v", n, err)
	}
	reads := here.Follower.Reads()
	if err := there.Users.Create(ctx, &store.User{Subject: "s1", Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	// Within MaxAge and Poll: served as it is, no read of the log.
	if n, _ := snap.Get(ctx); n != 0 || here.Follower.Reads() != reads {
		t.Fatalf("within Poll: %d users, %d log reads", n, here.Follower.Reads()-reads)
	}
	clock.Add(int64(here.Follower.MaxAge + time.Millisecond))
	if n, err := snap.Get(ctx); err != nil || n != 1 {
		t.Fatalf("first read after idling past MaxAge: %d users, %v; want the other replica's user", n, err)
	}
	if err := there.Users.Create(ctx, &store.User{Subject: "s2", Name: "Bo"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(here.Follower.MaxAge + time.Millisecond))
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := snap.Get(gone); err == nil {
		t.Fatalf("expired reader past MaxAge got %d users and no error", n)
	}
}

// TestFollowerRebuildsPastTrimmedEntries: a replica that was away for
// longer than the log keeps entries (Keep) rebuilds instead of taking the
// missing entry for the end of the log.
// A replica that fell further behind than the log keeps rebuilds, also
// when a trim that failed left an old entry behind (before the entry it
// wants next, or that very entry).
func TestFollowerRebuildsPastTrimmedEntries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		straggler int64 // an entry put back after the trim (0: none)
	}{
		{name: "trimmed"},
		{name: "a failed trim left an older entry", straggler: 1},
		{name: "a failed trim left the next entry", straggler: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := storetest.DatabaseName(t)
			here, there := storetest.Open(t, db), storetest.Open(t, db)
			there.Changes.Keep = 3
			var clock atomic.Int64
			clock.Store(time.Now().UnixNano())
			here.Follower.Now = func() time.Time { return time.Unix(0, clock.Load()) }
			// apply changes nothing: only a rebuild counts the new users.
			snap := store.NewSnapshot(here, func(ctx context.Context) (int, error) {
				us, err := here.Users.All(ctx)
				return len(us), err
			}, func(_ context.Context, n int, _ []store.Change) (int, error) { return n, nil }, store.AreaUsers)
			if err := there.Users.Create(ctx, &store.User{Subject: "s", Name: "U"}); err != nil {
				t.Fatal(err)
			}
			if n, err := snap.Get(ctx); err != nil || n != 1 {
				t.Fatalf("one user: %d users, %v", n, err)
			}
			for i := range 6 {
				if err := there.Users.Create(ctx, &store.User{Subject: fmt.Sprint("s", i), Name: "U"}); err != nil {
					t.Fatal(err)
				}
			}
			changes := there.Database().Collection("changes")
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				n, err := changes.CountDocuments(ctx, bson.D{})
				if err != nil {
					t.Fatal(err)
				}
				if n == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d entries kept, want 3", n)
				}
			}
			if tc.straggler > 0 {
				c := store.Change{ID: store.SeqKey(tc.straggler), Seq: tc.straggler, Area: store.AreaUsers, DocID: "gone", At: time.Now()}
				if _, err := changes.InsertOne(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			clock.Add(int64(time.Minute))
			if n, err := snap.Get(ctx); err != nil || n != 7 {
				t.Fatalf("after the gap: %d users, %v; want 7", n, err)
			}
		})
	}
}
