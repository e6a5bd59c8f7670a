package authz_test

import (
	"context"
	"fmt"
	"github.com/rulekeeper/rulekeeper/bench/benchsubjects"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/policies"
)

// realMix are the hydrated inputs of bench/loadbench's tenant, as the
// engine's hydration (resources/entities) builds them, rebuilt here without
// a store: the demo tenant of resources/demo (8 users, groups Admins,
// Sales, Finance, Marketing; the shared spaces Sales and Finance and the
// managed space Company Reports with their members; 7 apps, 3 of them
// personal) and loadbench's 300 subjects (bench/loadbench/setup.go: groups
// in their tokens, professional, analyzer, analyzer capacity or no
// license, every 50th disabled, direct memberships of every role, 3 apps
// they own). The items are loadbench's: every app asked read (weight 6),
// update, delete, export, duplicate, reload and view_data_model; every
// space read, update and manage_members and a new app created in it
// (weight 2); with objects, besides, app objects (a private sheet, a public
// story and a master item per app) read, sheets updated and created, which
// loadbench does not ask. n inputs are drawn with a fixed seed: many
// distinct subjects and resources, no input memoised.
func realMix(n int, objects bool) []*authz.Input {
	type space struct {
		id, name, typ, owner string
		members              []struct{ typ, id, role string }
	}
	groups := map[string]string{"Admins": "g-admins", "Sales": "g-sales", "Finance": "g-finance", "Marketing": "g-marketing", "Bench": "g-bench"}
	var subjects []*authz.Subject
	add := func(id, name string, roles, gs []string, license, status string) {
		s := &authz.Subject{ID: id, Name: name, Email: name + "@example.com", Status: status, Roles: roles,
			License: authz.License{Type: license}}
		for _, g := range gs {
			s.Groups = append(s.Groups, g)
			s.GroupIDs = append(s.GroupIDs, groups[g])
		}
		subjects = append(subjects, s)
	}
	// resources/demo.Users
	add("u-admin", "admin", []string{"TenantAdmin", "Developer"}, []string{"Admins"}, "professional", "")
	add("u-alice", "alice", []string{"Developer"}, []string{"Sales"}, "professional", "")
	add("u-bob", "bob", nil, []string{"Marketing"}, "analyzer", "")
	add("u-carol", "carol", nil, []string{"Finance"}, "professional", "")
	add("u-dave", "dave", nil, []string{"Finance"}, "analyzer", "")
	add("u-erin", "erin", nil, []string{"Sales", "Finance"}, "analyzer_capacity", "")
	add("u-frank", "frank", nil, []string{"Sales"}, "professional", "disabled")
	add("u-grace", "grace", nil, []string{"Marketing"}, "", "")
	type member = struct{ typ, id, role string }
	spaces := []*space{
		{id: "sp-sales", name: "Sales", typ: "shared", owner: "u-alice", members: []member{
			{"user", "u-carol", "admin"}, {"user", "u-bob", "canview"}, {"group", "g-sales", "canedit"}, {"user", "u-dave", "canedit"}}},
		{id: "sp-finance", name: "Finance", typ: "shared", owner: "u-carol", members: []member{
			{"group", "g-finance", "canview"}, {"user", "u-alice", "canedit"}}},
		{id: "sp-reports", name: "Company Reports", typ: "managed", owner: "u-admin", members: []member{
			{"user", "u-alice", "canmanage"}, {"user", "u-carol", "canpublish"}, {"user", "u-dave", "cancontribute"},
			{"group", "g-sales", "canview"}, {"user", "u-erin", "hasrestrictedview"}, {"group", "g-finance", "canconsumedata"},
			{"user", "u-grace", "canoperate"}}},
	}
	byName := map[string]*space{}
	for _, sp := range spaces {
		byName[sp.name] = sp
	}
	// bench/loadbench's subjects (bench/benchsubjects), as its setup
	// leaves them: the login assigns analyzer capacity unless the profile
	// names a license or none.
	const bench = 300
	for i := range bench {
		license := benchsubjects.License(i)
		switch license {
		case "":
			license = "analyzer_capacity"
		case "none":
			license = ""
		}
		status := ""
		if benchsubjects.Disabled(i) {
			status = "disabled"
		}
		id := fmt.Sprintf("u-bench-%04d", i)
		add(id, benchsubjects.Name(i), nil, benchsubjects.Groups(i), license, status)
		var ms struct{ space, role string }
		ms.space, ms.role = benchsubjects.Membership(i)
		if ms.space != "" {
			sp := byName[ms.space]
			sp.members = append(sp.members, member{"user", id, ms.role})
		}
	}
	// store.Space.RolesOf: owner first, then the members' roles in order.
	for _, s := range subjects {
		for _, sp := range spaces {
			var roles []string
			if sp.owner == s.ID {
				roles = append(roles, "owner")
			}
			for _, m := range sp.members {
				if (m.typ == "user" && m.id == s.ID) || (m.typ == "group" && slices.Contains(s.GroupIDs, m.id)) {
					if !slices.Contains(roles, m.role) {
						roles = append(roles, m.role)
					}
				}
			}
			if len(roles) > 0 {
				if s.Spaces == nil {
					s.Spaces = map[string][]string{}
				}
				s.Spaces[sp.id] = roles
			}
		}
	}
	related := func(sp *space) *authz.Related {
		return &authz.Related{ID: sp.id, Name: sp.name, Type: sp.typ, Owner: sp.owner}
	}
	type app struct {
		id, name, space, owner string
		sectionAccess          bool
		tags                   []string
	}
	apps := []app{
		{"a-q4", "Q4 report", "Sales", "u-alice", false, []string{"sales"}},
		{"a-pipeline", "Pipeline", "Sales", "u-dave", false, nil},
		{"a-budget", "Budget 2027", "Finance", "u-carol", true, nil},
		{"a-kpis", "Company KPIs", "Company Reports", "u-alice", false, nil},
		{"a-sandbox", "Alice's sandbox", "", "u-alice", false, nil},
		{"a-notes", "Bob's notes", "", "u-bob", false, nil},
		{"a-draft", "Q2 draft", "", "u-carol", false, []string{"draft"}},
		{"a-bench-pipeline", "Bench pipeline", "Sales", "u-bench-0010", false, []string{"bench"}},
		{"a-bench-kpis", "Bench KPIs", "Company Reports", "u-bench-0003", false, nil},
		{"a-bench-notes", "Bench notes", "", "u-bench-0001", false, nil},
	}
	// entities.Source.App and AppObject.
	appResource := func(a app) authz.Resource {
		r := authz.Resource{Type: "app", ID: a.id, Name: a.name, Owner: a.owner, SectionAccess: a.sectionAccess}
		if len(a.tags) > 0 {
			r.Attributes = map[string][]string{"tags": a.tags}
		}
		if a.space == "" {
			r.SpaceType = "personal"
			return r
		}
		sp := byName[a.space]
		r.SpaceID, r.Space, r.SpaceType = sp.id, related(sp), sp.typ
		return r
	}
	type item struct {
		action string
		r      authz.Resource
	}
	var picks []item
	weighted := func(action string, r authz.Resource, w int) {
		for range w {
			picks = append(picks, item{action, r})
		}
	}
	for k, a := range apps {
		r := appResource(a)
		for _, act := range []struct {
			name string
			w    int
		}{{"read", 6}, {"update", 1}, {"delete", 1}, {"export", 1}, {"duplicate", 1}, {"reload", 1}, {"view_data_model", 1}} {
			weighted(act.name, r, act.w)
		}
		if !objects {
			continue
		}
		creator := subjects[8+(k*37)%bench].ID
		for _, o := range []struct {
			id, typ, owner string
			public         bool
		}{{"sheet", "sheet", creator, false}, {"story", "story", "u-alice", true}, {"dim", "masteritem", a.owner, false}} {
			or := authz.Resource{Type: "app.object", ID: a.id + "-" + o.id, Name: o.id, Owner: o.owner,
				SpaceID: r.SpaceID, SpaceType: r.SpaceType, Space: r.Space, ObjectType: o.typ, Public: o.public,
				App: &authz.Related{ID: a.id, Name: a.name, Owner: a.owner, SpaceID: r.SpaceID}}
			weighted("read", or, 1)
			if o.typ == "sheet" {
				weighted("update", or, 1)
			}
		}
		weighted("create", authz.Resource{Type: "app.object", ObjectType: "sheet", SpaceID: r.SpaceID, SpaceType: r.SpaceType,
			Space: r.Space, App: &authz.Related{ID: a.id, Name: a.name, Owner: a.owner, SpaceID: r.SpaceID}}, 1)
	}
	for _, sp := range spaces {
		weighted("create", authz.Resource{Type: "app", SpaceID: sp.id, SpaceType: sp.typ, Space: related(sp)}, 2)
		// entities.SpaceResource
		r := authz.Resource{Type: "space", ID: sp.id, Name: sp.name, Owner: sp.owner, SpaceID: sp.id, SpaceType: sp.typ, Space: related(sp)}
		for _, act := range []string{"read", "update", "manage_members"} {
			weighted(act, r, 1)
		}
	}
	rng := rand.New(rand.NewPCG(12, 2026))
	ins := make([]*authz.Input, n)
	for i := range ins {
		it := picks[rng.IntN(len(picks))]
		ins[i] = &authz.Input{Subject: *subjects[rng.IntN(len(subjects))], Action: it.action, Resource: it.r, Environment: "hub"}
	}
	return ins
}

// BenchmarkDecideRealMix is one full policy evaluation per decision on
// realMix (loadbench's items) with the demo tenant's rules in force (the
// indexed compilation the server runs), decision cache off. Besides
// BenchmarkDecideUncached's figures it reports the CPU of the benchmark's
// own thread per decision (thread-ns/op: without the collector's
// background workers; allocs/op stand for them). With
// RULEKEEPER_OLD_POLICIES set to another checkout's policies/ directory,
// the sub-benchmark old evaluates that policy beside new (the embedded
// one), and interleaved both in alternating batches, in the same process:
//
//	RULEKEEPER_OLD_POLICIES=/work/main/policies go test -run '^$' -bench RealMix -benchtime 40000x ./authz/
func BenchmarkDecideRealMix(b *testing.B) { benchRealMix(b, realMix(8192, false)) }

// BenchmarkDecideRealMixObjects is BenchmarkDecideRealMix with app
// objects asked about too.
func BenchmarkDecideRealMixObjects(b *testing.B) { benchRealMix(b, realMix(8192, true)) }

func benchRealMix(b *testing.B, ins []*authz.Input) {
	type variant struct {
		name string
		opts authz.Options
	}
	vs := []variant{{"new", authz.Options{CacheSize: -1}}}
	if dir := os.Getenv("RULEKEEPER_OLD_POLICIES"); dir != "" {
		mods, data := policyDir(b, dir)
		vs = []variant{{"old", authz.Options{CacheSize: -1, Modules: mods, Data: data}}, vs[0]}
	}
	for _, v := range vs {
		b.Run(v.name, func(b *testing.B) { benchThread(b, demoEngine(b, v.opts), ins) })
	}
	if len(vs) == 2 {
		b.Run("interleaved", func(b *testing.B) {
			benchInterleaved(b, demoEngine(b, vs[0].opts), demoEngine(b, vs[1].opts), ins)
		})
	}
}

// benchInterleaved decides ins on old and new in alternating batches of
// 256 decisions (b.N decisions each), so that both see the same load on a
// shared machine, and reports each one's thread CPU per decision (old-ns/op,
// new-ns/op: the sums over all batches, as the kernel accounts thread CPU
// in ticks) and their ratio (new/old).
func benchInterleaved(b *testing.B, old, new *authz.Engine, ins []*authz.Input) {
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const batch = 256
	var sum [2]time.Duration
	n := 0
	b.ResetTimer()
	for ; n < b.N; n += batch {
		for j, e := range []*authz.Engine{old, new} {
			t := threadCPU()
			for i := range batch {
				if _, err := e.Evaluate(ctx, ins[(n+i)%len(ins)]); err != nil {
					b.Fatal(err)
				}
			}
			sum[j] += threadCPU() - t
		}
	}
	o, w := float64(sum[0])/float64(n), float64(sum[1])/float64(n)
	b.ReportMetric(o, "old-ns/op")
	b.ReportMetric(w, "new-ns/op")
	b.ReportMetric(w/o, "new/old")
}

// benchThread is benchUncachedCtx after a warm-up (every string of the
// first inputs interned, the pools filled).
func benchThread(b *testing.B, e *authz.Engine, ins []*authz.Input) {
	ctx := context.Background()
	for _, in := range ins[:min(256, len(ins))] {
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	benchUncachedCtx(b, ctx, e, ins)
}

// threadCPU is the CPU time (user and system) of the calling thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// policyDir reads the Rego modules and JSON documents of a policies/
// directory as policies.Modules and policies.Data give them.
func policyDir(b *testing.B, dir string) (map[string]string, map[string]any) {
	b.Helper()
	mods, err := policies.ModulesFrom(os.DirFS(filepath.Clean(dir)))
	if err != nil {
		b.Fatal(err)
	}
	data, err := policies.DataFrom(os.DirFS(filepath.Clean(dir)))
	if err != nil {
		b.Fatal(err)
	}
	return mods, data
}
