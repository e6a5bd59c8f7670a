package secrules

import (
	"context"
	"errors"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Defaults is the shipped rule set, in the spirit of the QMC's default
// rules (seed 004): admin roles, owners, and everyone reading extensions
// and themes. The built-in policy already grants the seed's tables; these
// rules add what an administrator expects to find and edit in the rule list.
func Defaults() []store.Rule {
	return []store.Rule{
		{ID: "default-everyone-reads-extensions-themes", Name: "Everyone reads extensions and themes",
			Description:    "Every signed-in user may use the uploaded extensions and themes (seed 004).",
			ResourceFilter: "Extension_*, Theme_*", Condition: "!user.IsAnonymous()",
			Actions: []string{"read"}, Context: "both", Type: store.RuleReadOnly},
		{ID: "default-content-admin-apps", Name: "ContentAdmin manages apps",
			Description:    "The ContentAdmin role administers all apps and their content in the console (seed 004).",
			ResourceFilter: "App_*, App.Object_*", Condition: `user.roles = "ContentAdmin"`,
			Actions: []string{"read", "update", "delete", "publish", "export", "change_owner"}, Context: "console", Type: store.RuleDefault},
		{ID: "default-security-admin-rules", Name: "SecurityAdmin manages security rules",
			Description:    "The SecurityAdmin role reads and edits the security rules in the console (seed 004).",
			ResourceFilter: "Rule_*", Condition: `user.roles = "SecurityAdmin"`,
			Actions: []string{"create", "read", "update", "delete"}, Context: "console", Type: store.RuleDefault},
		{ID: "default-owner-reads-own-apps", Name: "Owners open their apps",
			Description:    "The owner of an app opens it wherever it is, as long as no gate refuses (seed 004 owner rules).",
			ResourceFilter: "App_*", Condition: "resource.IsOwned() and resource.owner = user",
			Actions: []string{"read"}, Context: "hub", Type: store.RuleDefault},
	}
}

// InstallDefaults stores the default rules on first start (a marker
// document makes it once per database) and bumps the revision.
func (m *Manager) InstallDefaults(ctx context.Context) (bool, error) {
	_, err := m.store.Database().Collection("tenant").InsertOne(ctx, map[string]any{"_id": "default-rules", "at": time.Now().UTC()})
	if errors.Is(store.MapErr(err), store.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defs := Defaults()
	if err := m.Check(ctx, defs); err != nil {
		return false, err
	}
	for i := range defs {
		defs[i].UpdatedBy = "rulekeeper"
		if err := m.store.Rules.Create(ctx, &defs[i]); err != nil && !errors.Is(err, store.ErrConflict) {
			return false, err
		}
	}
	if _, err := m.store.Rules.Bump(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// Templates are starting points per resource type for the rule editor.
func Templates() []store.Rule {
	return []store.Rule{
		{Name: "Group reads apps", ResourceFilter: "App_*", Condition: `user.group = "Sales"`, Actions: []string{"read"}, Context: "hub"},
		{Name: "Owner edits own apps", ResourceFilter: "App_*", Condition: "resource.owner = user", Actions: []string{"read", "update"}, Context: "hub"},
		{Name: "Readers of an app read its sheets", ResourceFilter: "App.Object_*", Condition: `resource.objectType = "sheet" and resource.app.HasPrivilege("read")`, Actions: []string{"read"}, Context: "hub"},
		{Name: "Members of a space read it", ResourceFilter: "Space_*", Condition: `resource.name like "Team*"`, Actions: []string{"read"}, Context: "hub"},
		{Name: "Role manages extensions", ResourceFilter: "Extension_*", Condition: `user.roles = "ContentAdmin"`, Actions: []string{"create", "read", "update", "delete"}, Context: "console"},
		{Name: "Department reads themes", ResourceFilter: "Theme_*", Condition: `user.@department = "Finance"`, Actions: []string{"read"}, Context: "both"},
		{Name: "Admins read reload schedules", ResourceFilter: "Schedule_*", Condition: `user.roles = "HubAdmin"`, Actions: []string{"read"}, Context: "console"},
	}
}
