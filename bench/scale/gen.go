// Package scale generates tenants of a chosen size for the scale
// benchmarks of issue 8 (rule preview and impact over 1,000 users ×
// 10,000 resources × 4 actions) and measures them; see README.md for the
// figures and `go test -bench . ./bench/scale` to reproduce them.
//
// The data is generated directly as the engine's hydrated input
// (authz.Subject, authz.Resource), as resources/analysis.Loader would read
// it from the store: the benchmarks measure the analysis, not the database.
package scale

import (
	"fmt"
	"math/rand/v2"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// Tenant is a generated population.
type Tenant struct {
	Subjects  []authz.Subject
	Resources []authz.Resource
	Groups    []string
}

// Size says how big a tenant to generate.
type Size struct {
	Users, Resources, Spaces, Groups int
}

// Issue8 is the size of the issue's targets: 1,000 users and 10,000
// resources (200 spaces, 1,000 app objects, the rest apps).
var Issue8 = Size{Users: 1000, Resources: 10_000, Spaces: 200, Groups: 20}

var (
	sharedRoles  = []string{"admin", "canedit", "canview", "canview", "canview"}
	managedRoles = []string{"canmanage", "canpublish", "cancontribute", "canview", "canview", "hasrestrictedview", "canconsumedata"}
	words        = []string{"report", "plan", "forecast", "pipeline", "budget", "review", "kpis", "draft", "summary", "dashboard"}
)

// Generate builds a tenant from seed: users in one or two of the groups,
// members of about five spaces each with a random role, licenses mixed
// (professional, analyzer, analyzer capacity, a few without one, one in
// fifty disabled); shared and managed spaces; apps in spaces (four in
// five) or personal, named "<Letter><n> <word> <i>" so a like "Q*" test
// selects about one app in 26; app objects of random apps.
func Generate(seed uint64, size Size) *Tenant {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t := &Tenant{}
	for g := range size.Groups {
		t.Groups = append(t.Groups, fmt.Sprintf("G%02d", g))
	}
	spaces := make([]*authz.Related, size.Spaces)
	userID := func(i int) string { return fmt.Sprintf("u%05d", i) }
	for i := range spaces {
		typ := "shared"
		if i%4 == 3 {
			typ = "managed"
		}
		spaces[i] = &authz.Related{ID: fmt.Sprintf("sp%04d", i), Name: fmt.Sprintf("Space %d", i), Type: typ,
			Owner: userID(r.IntN(size.Users))}
	}
	for i := range size.Users {
		s := authz.Subject{ID: userID(i), Name: fmt.Sprintf("user%04d", i), Email: fmt.Sprintf("user%04d@example.com", i),
			Status: "active", Spaces: map[string][]string{}}
		if i%50 == 49 {
			s.Status = "disabled"
		}
		switch x := r.IntN(20); {
		case x < 11:
			s.License.Type = "professional"
		case x < 17:
			s.License.Type = "analyzer"
		case x < 19:
			s.License.Type = "analyzer_capacity"
		}
		for range 1 + r.IntN(2) {
			g := r.IntN(size.Groups)
			s.Groups = append(s.Groups, t.Groups[g])
			s.GroupIDs = append(s.GroupIDs, fmt.Sprintf("g%02d", g))
		}
		if i%10 == 0 {
			s.Roles = []string{"HubAdmin"}
		}
		if r.IntN(3) == 0 {
			s.Attributes = map[string][]string{"department": {words[r.IntN(len(words))]}}
		}
		for range 5 {
			sp := spaces[r.IntN(len(spaces))]
			roles := sharedRoles
			if sp.Type == "managed" {
				roles = managedRoles
			}
			s.Spaces[sp.ID] = []string{roles[r.IntN(len(roles))]}
		}
		t.Subjects = append(t.Subjects, s)
	}
	for _, sp := range spaces {
		t.Resources = append(t.Resources, authz.Resource{Type: "space", ID: sp.ID, Name: sp.Name, Owner: sp.Owner,
			SpaceID: sp.ID, SpaceType: sp.Type, Space: sp})
	}
	objects := size.Resources / 10
	apps := size.Resources - size.Spaces - objects
	var appList []authz.Resource
	for i := range apps {
		name := fmt.Sprintf("%c%d %s %d", 'A'+rune(r.IntN(26)), 1+r.IntN(4), words[r.IntN(len(words))], i)
		a := authz.Resource{Type: "app", ID: fmt.Sprintf("a%06d", i), Name: name, Owner: userID(r.IntN(size.Users))}
		if r.IntN(4) == 0 {
			a.Attributes = map[string][]string{"tags": {words[r.IntN(len(words))]}}
		}
		if r.IntN(5) == 0 {
			a.SpaceType = "personal"
		} else {
			sp := spaces[r.IntN(len(spaces))]
			a.SpaceID, a.SpaceType, a.Space = sp.ID, sp.Type, sp
		}
		appList = append(appList, a)
	}
	t.Resources = append(t.Resources, appList...)
	for i := range objects {
		a := appList[r.IntN(len(appList))]
		t.Resources = append(t.Resources, authz.Resource{Type: "app.object", ID: fmt.Sprintf("o%06d", i),
			Name: fmt.Sprintf("Sheet %d", i), Owner: userID(r.IntN(size.Users)), SpaceID: a.SpaceID, SpaceType: a.SpaceType,
			Space: a.Space, ObjectType: []string{"sheet", "story", "masteritem"}[r.IntN(3)], Public: r.IntN(2) == 0,
			App: &authz.Related{ID: a.ID, Name: a.Name, Owner: a.Owner, SpaceID: a.SpaceID}})
	}
	return t
}

// Actions are the four actions of the targets.
var Actions = []string{"read", "update", "export", "duplicate"}

// PreviewRule is the issue's example rule over the four actions: members
// of one group (about 7% of the users) on the Q* apps (about 4%).
func PreviewRule() rules.Rule {
	return rules.Rule{Name: "G00 works on Q apps", ResourceFilter: "App_*",
		Condition: `user.group = "G00" and resource.name like "Q*"`, Actions: Actions, Context: "hub"}
}

// BroadRule grants one group every app: the worst case for a preview,
// where nearly every triple it selects must be decided in full.
func BroadRule() rules.Rule {
	return rules.Rule{Name: "G00 reads every app", ResourceFilter: "App_*",
		Condition: `user.group = "G00"`, Actions: Actions, Context: "hub"}
}

// RuleSet is a current rule set of n rules in the shapes administrators
// write: group × name prefix, department attribute, tags, owners, app
// objects of readable apps (HasPrivilege), a space rule.
func RuleSet(n int) []rules.Rule {
	var out []rules.Rule
	for i := range n {
		id := fmt.Sprintf("r%02d", i)
		letter := string(rune('A' + i%26))
		var r rules.Rule
		switch i % 6 {
		case 0, 1:
			r = rules.Rule{ResourceFilter: "App_*", Condition: fmt.Sprintf(`user.group = "G%02d" and resource.name like "%s*"`, i%20, letter),
				Actions: []string{"read", "export"}}
		case 2:
			r = rules.Rule{ResourceFilter: "App_*", Condition: fmt.Sprintf(`user.@department = "%s" and resource.@tags = "%s"`, words[i%10], words[(i+3)%10]),
				Actions: []string{"read"}}
		case 3:
			r = rules.Rule{ResourceFilter: "App_*, App.Object_*", Condition: fmt.Sprintf(`resource.owner = user and resource.name like "%s*"`, letter),
				Actions: []string{"read", "update", "duplicate"}}
		case 4:
			r = rules.Rule{ResourceFilter: "App.Object_*", Condition: fmt.Sprintf(`resource.objectType = "sheet" and user.group = "G%02d" and resource.app.HasPrivilege("read")`, i%20),
				Actions: []string{"read"}}
		case 5:
			r = rules.Rule{ResourceFilter: "Space_*", Condition: fmt.Sprintf(`user.group = "G%02d" and resource.name like "Space %d*"`, i%20, i%10),
				Actions: []string{"read"}}
		}
		r.ID, r.Name, r.Context = id, "rule "+id, "hub"
		out = append(out, r)
	}
	return out
}

// Change applies a 10-rule change to a set of at least 10 rules: 3
// disabled, 3 updated (another group and letter), 2 deleted, 2 added.
func Change(current []rules.Rule) []rules.Rule {
	next := append([]rules.Rule(nil), current...)
	for i := range 3 {
		next[i].Disabled = true
	}
	for i := 3; i < 6; i++ {
		next[i].Condition = fmt.Sprintf(`user.group = "G%02d" and resource.name like "%c*"`, 10+i, 'K'+rune(i))
	}
	next = append(next[:6], next[8:]...)
	next = append(next,
		rules.Rule{ID: "new1", Name: "new 1", ResourceFilter: "App_*", Condition: `user.group = "G05" and resource.name like "Q*"`, Actions: Actions, Context: "hub"},
		rules.Rule{ID: "new2", Name: "new 2", ResourceFilter: "App_*", Condition: `user.@department = "draft" and resource.name like "M*"`, Actions: []string{"read", "export"}, Context: "both"},
	)
	return next
}
