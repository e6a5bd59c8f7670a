package apitest_test

import (
	"context"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// TestLicenseStateFollowsTheChangeLog: decisions read the license state
// again and again; it is built once, and an assignment written by another
// replica (another handle on the database, no Invalidate here) is seen
// after a background catch-up, applied by id without a rebuild.
func TestLicenseStateFollowsTheChangeLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DatabaseName(t)
	here, there := storetest.Open(t, db), storetest.Open(t, db)
	pub, _ := licenses.DevKeyPair()
	svc := licenses.New(here, pub)
	here.Follower.Poll = 0 // a background catch-up on every read
	other := licenses.New(there, pub)
	terms, err := other.ApplyKey(ctx, devKey(t, nil), "admin")
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Subject: "s1", Name: "Ann"}
	if err := there.Users.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	license := func() string {
		t.Helper()
		l, err := svc.LicenseOf(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return l.Type
	}
	for range 50 {
		if typ := license(); typ != "" {
			t.Fatalf("unassigned user has %q", typ)
		}
		time.Sleep(time.Millisecond)
	}
	if n := svc.Rebuilds(); n != 1 {
		t.Fatalf("nothing changed, but the state was built %d times", n)
	}
	if _, err := there.Assignments.Add(ctx, terms.KeyID, u.ID, store.LicenseAnalyzer); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for license() != store.LicenseAnalyzer {
		if time.Now().After(deadline) {
			t.Fatalf("another replica's assignment unseen (%d builds)", svc.Rebuilds())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := svc.Rebuilds(); n != 1 {
		t.Fatalf("one assignment, %d builds in all, want 1 (applied by id)", n)
	}
}
