package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// TestEveryWriteBumpsItsArea: each repository write to users, groups,
// spaces, license keys, assignments and capacity minutes moves its area's
// counter by one, and no other area's; a write that changes nothing (a
// capacity minute counted already) moves nothing.
func TestEveryWriteBumpsItsArea(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	areas := []string{store.AreaUsers, store.AreaSpaces, store.AreaLicenses, store.AreaCapacity}
	u := &store.User{Subject: "s1", Name: "Ann"}
	g := &store.Group{Name: "Sales"}
	sp := &store.Space{Name: "Sales", Type: store.SpaceShared, OwnerID: "x"}
	minute := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	cases := []struct {
		name  string
		area  string // "" : no area moves
		write func() error
	}{
		{"create user", store.AreaUsers, func() error { return s.Users.Create(ctx, u) }},
		{"update user", store.AreaUsers, func() error {
			name := "Anne"
			_, err := s.Users.Update(ctx, u.ID, store.UserChange{Version: u.Version, Name: &name})
			return err
		}},
		{"create group", store.AreaUsers, func() error { return s.Groups.Create(ctx, g) }},
		{"delete group", store.AreaUsers, func() error { return s.Groups.Delete(ctx, g.ID) }},
		{"create space", store.AreaSpaces, func() error { return s.Spaces.Create(ctx, sp) }},
		{"update space", store.AreaSpaces, func() error {
			_, err := s.Spaces.Update(ctx, sp.ID, store.SpaceChange{Version: sp.Version, Members: []store.Member{{Type: "user", ID: u.ID, Roles: []string{"canview"}}}})
			return err
		}},
		{"delete space", store.AreaSpaces, func() error { return s.Spaces.Delete(ctx, s.Apps, sp.ID) }},
		{"apply key", store.AreaLicenses, func() error { return s.LicenseKeys.Apply(ctx, &store.LicenseKey{ID: "k1", Raw: "raw"}) }},
		{"assign", store.AreaLicenses, func() error { _, err := s.Assignments.Add(ctx, "k1", u.ID, store.LicenseAnalyzer); return err }},
		{"upgrade", store.AreaLicenses, func() error {
			_, err := s.Assignments.SetType(ctx, "k1", u.ID, store.LicenseProfessional)
			return err
		}},
		{"remove assignment", store.AreaLicenses, func() error { return s.Assignments.Remove(ctx, "k1", u.ID) }},
		{"record a minute", store.AreaCapacity, func() error { return s.LicenseKeys.RecordMinute(ctx, "k1", u.ID, minute) }},
		{"record the same minute", "", func() error { return s.LicenseKeys.RecordMinute(ctx, "k1", u.ID, minute.Add(time.Second)) }},
		{"a read", "", func() error { _, err := s.Users.All(ctx); return err }},
	}
	revs := func() map[string]int64 {
		m := map[string]int64{}
		for _, a := range areas {
			n, err := s.Revisions.Get(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			m[a] = n
		}
		return m
	}
	for _, c := range cases {
		before := revs()
		if err := c.write(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		after := revs()
		for _, a := range areas {
			want := before[a]
			if a == c.area {
				want++
			}
			if after[a] != want {
				t.Errorf("%s: %s revision %d → %d, want %d", c.name, a, before[a], after[a], want)
			}
		}
	}
}

// TestSnapshotRebuildsOnlyWhenARevisionMoved: a snapshot polled again and
// again while nothing changes is built once; a write through another
// handle on the same database (another replica) is seen after a poll
// without Invalidate; Invalidate rebuilds at once.
func TestSnapshotRebuildsOnlyWhenARevisionMoved(t *testing.T) {
	ctx := context.Background()
	db := storetest.DatabaseName(t)
	here, there := storetest.Open(t, db), storetest.Open(t, db)
	var reads atomic.Int64
	snap := store.NewSnapshot(here, func(ctx context.Context) (int, error) {
		reads.Add(1)
		us, err := here.Users.All(ctx)
		return len(us), err
	}, store.AreaUsers)
	snap.Poll = 0 // check the revision on every read
	get := func() int {
		t.Helper()
		n, err := snap.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := get(); n != 0 {
		t.Fatalf("empty store: %d users", n)
	}
	// Many reads, each starting a check: the checks happen, no rebuild.
	for snap.Checks() < 5 {
		get()
		time.Sleep(time.Millisecond)
	}
	if b := snap.Builds(); b != 1 || reads.Load() != 1 {
		t.Fatalf("nothing changed, but %d builds (%d reads of the users)", b, reads.Load())
	}
	// Another replica writes: seen after a check, without Invalidate.
	if err := there.Users.Create(ctx, &store.User{Subject: "s1", Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for get() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("another replica's user unseen after %d checks, %d builds", snap.Checks(), snap.Builds())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b := snap.Builds(); b != 2 {
		t.Fatalf("one write, %d builds in all, want 2", b)
	}
	// A write here followed by Invalidate is seen by the very next read.
	snap.Poll = time.Hour
	if err := here.Users.Create(ctx, &store.User{Subject: "s2", Name: "Bo"}); err != nil {
		t.Fatal(err)
	}
	snap.Invalidate()
	if n := get(); n != 2 {
		t.Fatalf("after Invalidate: %d users, want 2", n)
	}
	// FullEvery rebuilds whatever the revisions say (a write that bypassed
	// the repositories).
	full := store.NewSnapshot(here, func(ctx context.Context) (int, error) {
		us, err := here.Users.All(ctx)
		return len(us), err
	}, store.AreaUsers)
	full.Poll, full.FullEvery = 0, 0
	if n, err := full.Get(ctx); err != nil || n != 2 {
		t.Fatalf("%d users, %v", n, err)
	}
	if _, err := there.Database().Collection("users").DeleteMany(ctx, map[string]any{"subject": "s2"}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		n, err := full.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a write outside the repositories unseen with FullEvery 0")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSnapshotNeverServesPastMaxAge is the idle replica of issue 13: a
// snapshot last checked longer than MaxAge ago is not served while a
// refresh runs; the first read after the pause waits and sees another
// replica's write.
func TestSnapshotNeverServesPastMaxAge(t *testing.T) {
	ctx := context.Background()
	db := storetest.DatabaseName(t)
	here, there := storetest.Open(t, db), storetest.Open(t, db)
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	snap := store.NewSnapshot(here, func(ctx context.Context) (int, error) {
		us, err := here.Users.All(ctx)
		return len(us), err
	}, store.AreaUsers)
	snap.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	if n, err := snap.Get(ctx); err != nil || n != 0 {
		t.Fatalf("empty store: %d users, %v", n, err)
	}
	if err := there.Users.Create(ctx, &store.User{Subject: "s1", Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	// Within Poll: the value is served as it is (no check at all).
	if n, _ := snap.Get(ctx); n != 0 || snap.Checks() != 1 {
		t.Fatalf("within Poll: %d users after %d checks", n, snap.Checks())
	}
	// The replica idles past MaxAge: the very next read is fresh.
	clock.Add(int64(snap.MaxAge + time.Second))
	if n, err := snap.Get(ctx); err != nil || n != 1 {
		t.Fatalf("first read after idling past MaxAge: %d users, %v; want the other replica's user", n, err)
	}
	// A reader whose deadline ends before the refresh does gets an error,
	// never the old value.
	if err := there.Users.Create(ctx, &store.User{Subject: "s2", Name: "Bo"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(snap.MaxAge + time.Second))
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := snap.Get(gone); err == nil {
		t.Fatalf("expired reader past MaxAge got %d users and no error", n)
	}
}
