package identity_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func newAuth(t *testing.T, s *store.Store, opts ...func(*identity.Config)) *identity.Authenticator {
	t.Helper()
	// Login is exercised directly; the verifier is never reached.
	v, err := idp.NewVerifier(idp.Config{IssuerURL: "http://127.0.0.1:1/none", ClientID: "rk"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := identity.Config{Store: s, Verifier: v, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConcurrentFirstLoginsCreateOneUser(t *testing.T) {
	s := storetest.New(t)
	a := newAuth(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := a.Login(ctx, idp.Identity{Subject: "oidc|same", Name: "Same", Groups: []string{"G"}})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = u.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("logins answered different users: %v", ids)
		}
	}
	if n, _ := s.Users.Count(ctx, store.UserFilter{}); n != 1 {
		t.Fatalf("%d users after 8 concurrent first logins", n)
	}
	if groups, _, _ := s.Groups.List(ctx, store.Page{}); len(groups) != 1 {
		t.Fatalf("%d groups named G", len(groups))
	}
}

func TestWithoutBootstrapNobodyBecomesTenantAdmin(t *testing.T) {
	s := storetest.New(t)
	a := newAuth(t, s)
	u, err := a.Login(context.Background(), idp.Identity{Subject: "svc|client-credentials", Name: "svc"})
	if err != nil || u.HasRole(identity.RoleTenantAdmin) {
		t.Fatalf("first login without --bootstrap-first-login: %+v %v", u, err)
	}
}

func TestExactlyOneFirstUserBecomesTenantAdmin(t *testing.T) {
	s := storetest.New(t)
	a := newAuth(t, s, func(c *identity.Config) { c.BootstrapFirstLogin = true })
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Login(ctx, idp.Identity{Subject: fmt.Sprint("oidc|", i), Name: fmt.Sprint("user", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, err := s.Users.Count(ctx, store.UserFilter{Role: identity.RoleTenantAdmin})
	if err != nil || n != 1 {
		t.Fatalf("%d tenant admins after 6 concurrent first logins (%v)", n, err)
	}
	later, err := a.Login(ctx, idp.Identity{Subject: "oidc|late", Name: "late"})
	if err != nil || later.HasRole(identity.RoleTenantAdmin) {
		t.Fatalf("a later user became admin: %+v %v", later, err)
	}
}

func TestGroupsAreCreatedOnlyWhenTheSettingIsOn(t *testing.T) {
	s := storetest.New(t)
	a := newAuth(t, s)
	ctx := context.Background()
	settings, err := s.Settings.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	settings.AutoCreateGroups = false
	if _, err := s.Settings.Replace(ctx, *settings); err != nil {
		t.Fatal(err)
	}
	if err := s.Groups.Create(ctx, &store.Group{Name: "Known"}); err != nil {
		t.Fatal(err)
	}
	u, err := a.Login(ctx, idp.Identity{Subject: "x", Name: "x", Groups: []string{"Known", "Unknown"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.GroupIDs) != 1 {
		t.Fatalf("groups %v, want only the known one", u.GroupIDs)
	}
	if _, err := s.Groups.ByName(ctx, "Unknown"); err == nil {
		t.Fatal("a group was created with auto-creation off")
	}
	// Name, email and groups follow the next token; no groups claim keeps them.
	u2, err := a.Login(ctx, idp.Identity{Subject: "x", Name: "X Renamed", Email: "x@example.com"})
	if err != nil || u2.Name != "X Renamed" || u2.Email != "x@example.com" || len(u2.GroupIDs) != 1 || u2.ID != u.ID {
		t.Fatalf("second login: %+v %v", u2, err)
	}
	u3, err := a.Login(ctx, idp.Identity{Subject: "x", Name: "X Renamed", Groups: []string{}})
	if err != nil || len(u3.GroupIDs) != 0 {
		t.Fatalf("empty groups claim: %+v %v", u3, err)
	}
	events, _ := s.Events.All(ctx, "user-session.begin")
	if len(events) != 3 {
		t.Fatalf("%d user-session.begin events, want 3", len(events))
	}
}

// An email the identity provider says is not verified (email_verified:
// false) names nobody: it binds no provisioned user at the first login,
// makes nobody a bootstrap admin, and a decision's subject.id does not
// resolve by it (through the user index or the store); once the provider
// verifies it, it does.
func TestUnverifiedEmailNamesNobody(t *testing.T) {
	s := storetest.New(t)
	ctx := context.Background()
	a := newAuth(t, s, func(c *identity.Config) { c.BootstrapAdmins = []string{"boss@acme.test"} })
	pat := &store.User{Subject: store.PendingSubject + "pat", Name: "Pat", Email: "pat@acme.test", Provisioned: true,
		GroupIDs: []string{}, Roles: []string{}}
	if err := s.Users.Create(ctx, pat); err != nil {
		t.Fatal(err)
	}
	claim, err := a.Login(ctx, idp.Identity{Subject: "idp|mallory", Name: "Mallory", Email: "pat@acme.test", EmailUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	if claim.ID == pat.ID || !claim.EmailUnverified {
		t.Fatalf("an unverified email bound the provisioned user (or was not marked): %+v", claim)
	}
	boss, err := a.Login(ctx, idp.Identity{Subject: "idp|boss?", Name: "Boss", Email: "boss@acme.test", EmailUnverified: true})
	if err != nil || boss.HasRole(identity.RoleTenantAdmin) {
		t.Fatalf("an unverified bootstrap email made %+v TenantAdmin (%v)", boss, err)
	}
	eve, err := a.Login(ctx, idp.Identity{Subject: "idp|eve", Name: "Eve", Email: "eve@acme.test", EmailUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	x := entities.NewUserIndex(s)
	for name, src := range map[string]*entities.Source{"index": {Store: s, Users: x}, "store": {Store: s}} {
		for ref, want := range map[string]string{"pat@acme.test": pat.ID, "PAT@acme.test": pat.ID, "eve@acme.test": "", "idp|eve": eve.ID} {
			got, err := src.ResolveSubject(ctx, ref)
			if want == "" && !errors.Is(err, authz.ErrNotFound) || want != "" && got != want {
				t.Errorf("%s: %s resolved to %q (%v), want %q", name, ref, got, err, want)
			}
		}
	}
	// The provider verifies eve's email: her next login makes it hers.
	if eve, err = a.Login(ctx, idp.Identity{Subject: "idp|eve", Name: "Eve", Email: "eve@acme.test"}); err != nil || eve.EmailUnverified {
		t.Fatalf("verified login: %+v %v", eve, err)
	}
	x.Invalidate()
	for name, src := range map[string]*entities.Source{"index": {Store: s, Users: x}, "store": {Store: s}} {
		if got, err := src.ResolveSubject(ctx, "eve@acme.test"); got != eve.ID {
			t.Errorf("%s: the verified email resolved to %q (%v)", name, got, err)
		}
	}
}
