package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
)

// Props are the custom properties rules compare between users and
// resources.
var Props = []string{"dept", "region", "country", "costcenter", "team"}

// Rules returns n rules of the mix, the same for the same n and seed:
//
//   - 60 % group equality, half of them with a name prefix (like "P<k>*");
//   - 15 % ownership (resource.owner = user with a name prefix) and custom
//     property pairs (resource.@p = user.@p, with a group);
//   - 10 % user name or email equality;
//   - 10 % stream or space name equality;
//   - 5 % matches, HasPrivilege or !, each with a group.
//
// Most rules are on App_* read in the hub; the others on App.Object_*,
// Stream_*, update, both environments.
func Rules(n int, seed uint64) []rules.Rule {
	r := rand.New(rand.NewPCG(seed, 12))
	out := make([]rules.Rule, n)
	for i := range out {
		g := fmt.Sprintf("G%d", i)
		var cond string
		p := r.IntN(100)
		switch {
		case p < 60:
			cond = fmt.Sprintf(`user.group = %q`, g)
			if r.IntN(2) == 0 {
				cond += fmt.Sprintf(` and resource.name like "P%d*"`, r.IntN(200))
			}
		case p < 68:
			cond = fmt.Sprintf(`resource.owner = user and resource.name like "O%d*"`, i)
		case p < 75:
			prop := Props[r.IntN(len(Props))]
			cond = fmt.Sprintf(`resource.@%s = user.@%s and user.group = %q`, prop, prop, g)
		case p < 80:
			cond = fmt.Sprintf(`user.name = "user%d"`, i)
		case p < 85:
			cond = fmt.Sprintf(`user.email = "user%d@example.com"`, i)
		case p < 90:
			cond = fmt.Sprintf(`resource.stream.name = "S%d"`, i)
		case p < 95:
			cond = fmt.Sprintf(`resource.space.name = "S%d"`, i)
		case p < 97:
			cond = fmt.Sprintf(`user.group = %q and resource.name matches "R%d-[0-9]+"`, g, i)
		case p < 98:
			cond = fmt.Sprintf(`user.group = %q and resource.HasPrivilege("update")`, g)
		default:
			cond = fmt.Sprintf(`user.group = %q and !(resource.name like "T*")`, g)
		}
		filter, actions, ctx := "App_*", []string{"read"}, "hub"
		switch q := r.IntN(100); {
		case q < 10:
			filter = "App.Object_*"
		case q < 15 && (p < 85 || p >= 95) && (p < 97 || p >= 98):
			filter = "Stream_*" // resource.stream.* and HasPrivilege are not defined on streams
		}
		switch q := r.IntN(100); {
		case q < 10:
			actions = []string{"read", "update"}
		case q < 15:
			actions = []string{"update"}
		}
		if r.IntN(100) < 20 {
			ctx = "both"
		}
		out[i] = rules.Rule{ID: fmt.Sprintf("r%05d", i), Name: fmt.Sprintf("rule %d", i), ResourceFilter: filter,
			Condition: cond, Actions: actions, Context: ctx, Type: "custom"}
	}
	return out
}

// Inputs returns k decision inputs against n rules: users with three
// groups among the rules' groups, names and emails of the rules, custom
// properties, reading or updating apps (and some app objects and spaces)
// whose names, owners and spaces the rules mention, in the hub.
func Inputs(k, n int, seed uint64) []*authz.Input {
	r := rand.New(rand.NewPCG(seed, 34))
	out := make([]*authz.Input, k)
	for i := range out {
		u := r.IntN(max(n, 1))
		id := fmt.Sprintf("u-%d", u)
		s := authz.Subject{ID: id, Name: fmt.Sprintf("user%d", u), Email: fmt.Sprintf("user%d@example.com", u),
			Status: "active", License: authz.License{Type: "professional"},
			Groups:     []string{fmt.Sprintf("G%d", r.IntN(max(n, 1))), fmt.Sprintf("g%d", r.IntN(max(n, 1))), "Everyone"},
			Attributes: map[string][]string{Props[r.IntN(len(Props))]: {fmt.Sprintf("v%d", r.IntN(5))}},
			Spaces:     map[string][]string{"sp-1": {"canview"}},
		}
		j := r.IntN(max(n, 1))
		owner := "u-owner"
		if r.IntN(4) == 0 {
			owner = id
		}
		name := []string{"P%d-report", "O%d-sales", "R%d-42", "T%d", "Q%d"}[r.IntN(5)]
		res := authz.Resource{Type: "app", ID: fmt.Sprintf("a-%d", j), Name: fmt.Sprintf(name, r.IntN(max(n, 1))), Owner: owner,
			SpaceID: "sp-2", SpaceType: "shared",
			Attributes: map[string][]string{Props[r.IntN(len(Props))]: {fmt.Sprintf("v%d", r.IntN(5))}},
			Space:      &authz.Related{ID: "sp-2", Name: fmt.Sprintf("S%d", r.IntN(max(n, 1))), Type: "shared", Owner: "u-space"}}
		switch r.IntN(10) {
		case 0:
			res.Type, res.ObjectType = "app.object", "sheet"
			res.App = &authz.Related{ID: "a-1", Name: "P1-report", Owner: owner, SpaceID: "sp-2"}
		case 1:
			res = authz.Resource{Type: "space", ID: "sp-2", Name: fmt.Sprintf("S%d", r.IntN(max(n, 1))), Owner: "u-space", SpaceType: "shared"}
		}
		action := "read"
		if r.IntN(5) == 0 {
			action = "update"
		}
		out[i] = &authz.Input{Subject: s, Action: action, Resource: res, Environment: "hub"}
	}
	return out
}
