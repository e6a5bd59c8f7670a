package identity_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/idp/idptest"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoginsWithAThirdPartyProvider logs in with real tokens of
// zitadel/oidc's OP: roles from the roles claim through the role map, a
// bootstrap admin named by email whose groups come from userinfo, and a
// refused token logged with its reason but not the token.
func TestLoginsWithAThirdPartyProvider(t *testing.T) {
	op := idptest.Start(t,
		idptest.User{ID: "u-alice", Username: "alice", Name: "Alice Liddell", Email: "alice@corp.example",
			Groups: []string{"Sales"}, Roles: []string{"rk-devs", "unrelated"}},
		idptest.User{ID: "u-carol", Username: "carol", Name: "Carol Danvers", Email: "Carol@Corp.example",
			Groups: []string{"Marketing"}, GroupsOnlyInUserinfo: true},
	)
	s := storetest.New(t)
	ctx := context.Background()
	v, err := idp.NewVerifier(idp.Config{IssuerURL: op.URL, ClientID: idptest.WebClient,
		Audiences: []string{idptest.APIAudience}, Claims: idp.ClaimNames{Roles: "roles"}})
	if err != nil {
		t.Fatal(err)
	}
	roleMap, err := identity.ParseRoleMap("rk-devs=Developer, rk-admins=TenantAdmin")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	a, err := identity.New(identity.Config{Store: s, Verifier: v, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		RoleMap: roleMap, BootstrapAdmins: []string{"carol@corp.example"}, BootstrapFirstLogin: true})
	if err != nil {
		t.Fatal(err)
	}

	// Alice: an ID token; her IdP roles map to Developer, and she is not the
	// first admin (bootstrap admins are configured).
	alice, err := a.Authenticate(ctx, "Bearer "+op.Login(t, idptest.WebClient, "alice").IDToken)
	if err != nil {
		t.Fatal(err)
	}
	if u := alice.User; !slices.Equal(u.Roles, []string{"Developer"}) || u.RoleSources()["Developer"] != "idp" || u.Email != "alice@corp.example" {
		t.Fatalf("alice %+v", u)
	}
	// An admin adds a rulekeeper role; the next login keeps it beside the IdP's.
	if _, err := s.Users.Update(ctx, alice.User.ID, storeChange(alice.User.Version, "Developer", "AuditAdmin")); err != nil {
		t.Fatal(err)
	}
	again, err := a.Authenticate(ctx, "Bearer "+op.Login(t, idptest.APIClient, "alice").AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if src := again.User.RoleSources(); len(src) != 2 || src["Developer"] != "idp" || src["AuditAdmin"] != "rulekeeper" {
		t.Fatalf("role sources %v", src)
	}

	// Carol: a JWT access token for the API audience without groups;
	// userinfo fills them; she is the bootstrap admin (email, any case).
	carol, err := a.Authenticate(ctx, "Bearer "+op.Login(t, idptest.APIClient, "carol").AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if u := carol.User; !u.HasRole(identity.RoleTenantAdmin) || len(u.GroupIDs) != 1 || u.Name != "Carol Danvers" {
		t.Fatalf("carol %+v", u)
	}
	if g, err := s.Groups.ByName(ctx, "Marketing"); err != nil || g.ID != carol.User.GroupIDs[0] {
		t.Fatalf("carol's group: %+v %v", g, err)
	}
	events, err := s.Events.All(ctx, "user.roles.changed")
	if err != nil || len(events) != 2 {
		t.Fatalf("%d user.roles.changed events (alice's IdP roles, carol's bootstrap), %v", len(events), err)
	}
	if !strings.Contains(logs.String(), `"msg":"user roles changed"`) || !strings.Contains(logs.String(), `"source":"bootstrap-admin"`) {
		t.Fatalf("role changes not logged:\n%s", logs.String())
	}

	// A token for an audience that is not accepted: 401 naming the accepted
	// audiences, logged with the reason but without the token.
	strict, err := idp.NewVerifier(idp.Config{IssuerURL: op.URL, ClientID: idptest.WebClient})
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.New(identity.Config{Store: s, Verifier: strict, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	raw := op.Login(t, idptest.APIClient, "alice").AccessToken
	_, err = b.Authenticate(ctx, "Bearer "+raw)
	if err == nil || !strings.Contains(err.Error(), `accepted are ["web"]`) {
		t.Fatalf("refusal %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"token refused","code":"token_invalid_audience"`) {
		t.Fatalf("refusal not logged:\n%s", out)
	}
	if strings.Contains(out, raw) || strings.Contains(out, strings.Split(raw, ".")[2]) {
		t.Fatal("the log holds the token")
	}
}

func storeChange(version int64, roles ...string) store.UserChange {
	return store.UserChange{Version: version, Roles: roles}
}
