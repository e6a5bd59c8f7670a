package authz

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/policies"
)

// shippedRules are the default rules of resources/secrules (copied: that
// package imports this one).
var shippedRules = []rules.Rule{
	{ID: "default-everyone-reads-extensions-themes", Name: "Everyone reads extensions and themes",
		ResourceFilter: "Extension_*, Theme_*", Condition: "!user.IsAnonymous()", Actions: []string{"read"}, Context: "both"},
	{ID: "default-content-admin-apps", Name: "ContentAdmin manages apps", ResourceFilter: "App_*, App.Object_*",
		Condition: `user.roles = "ContentAdmin"`, Actions: []string{"read", "update", "delete", "publish", "export", "change_owner"}, Context: "console"},
	{ID: "default-security-admin-rules", Name: "SecurityAdmin manages security rules", ResourceFilter: "Rule_*",
		Condition: `user.roles = "SecurityAdmin"`, Actions: []string{"create", "read", "update", "delete"}, Context: "console"},
	{ID: "default-owner-reads-own-apps", Name: "Owners open their apps", ResourceFilter: "App_*",
		Condition: "resource.IsOwned() and resource.owner = user", Actions: []string{"read"}, Context: "hub"},
}

// subjectRules read the subject's id, name, groups and attributes in ways
// that cannot be projected (a literal id, a pattern, names).
var subjectRules = []rules.Rule{
	{ID: "by-id", Name: "u2 exports", ResourceFilter: "App_*", Condition: `user.userId = "u2"`, Actions: []string{"export"}, Context: "hub"},
	{ID: "by-name", Name: "Bob deletes", ResourceFilter: "App_*, Space_*", Condition: `user.name = "Bob"`, Actions: []string{"delete"}, Context: "both"},
	{ID: "by-pattern", Name: "u-ish reload", ResourceFilter: "App_*", Condition: `user.userId like "U*"`, Actions: []string{"reload"}, Context: "hub"},
	{ID: "by-group", Name: "g1 updates", ResourceFilter: "App_*", Condition: `user.groupId = "g1" or user.group = "Sales"`, Actions: []string{"update"}, Context: "hub"},
	{ID: "by-attr", Name: "Finance themes", ResourceFilter: "Theme_*", Condition: `user.@department = "Finance"`, Actions: []string{"update"}, Context: "both"},
	{ID: "priv", Name: "Sheet readers", ResourceFilter: "App.Object_*", Condition: `resource.app.HasPrivilege("read") and resource.owner = user`, Actions: []string{"update"}, Context: "hub"},
}

func compileRules(t *testing.T, rs []rules.Rule) string {
	t.Helper()
	m, diags := rules.CompileModule(rs, nil)
	if rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	return m
}

func newTestEngine(t *testing.T) *Engine { return newInternalEngine(t, Options{}) }

// newInternalEngine is an engine on the embedded policies with opts.
func newInternalEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	mods, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	data, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	opts.Modules, opts.Data = mods, data
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestProjectionAnalysis: what each revision may project.
func TestProjectionAnalysis(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		rules []rules.Rule
		want  map[string]fieldUse
	}{
		{"static only", nil, map[string]fieldUse{"id": byResource, "groupIds": byResource, "spaces": byResource,
			"name": unread, "email": unread, "groups": unread, "attributes": unread, "roles": whole, "license": whole}},
		{"shipped rules: owner = user compares with the resource", shippedRules, map[string]fieldUse{"id": byResource,
			"groupIds": byResource, "spaces": byResource, "name": unread, "anonymous": whole}},
		{"a literal id", subjectRules[:1], map[string]fieldUse{"id": whole, "groupIds": byResource}},
		{"a name", subjectRules[1:2], map[string]fieldUse{"id": byResource, "name": whole}},
		{"a pattern on the id", subjectRules[2:3], map[string]fieldUse{"id": whole}},
		{"a group id literal", subjectRules[3:4], map[string]fieldUse{"groupIds": whole, "groups": whole, "id": byResource}},
		{"an attribute", subjectRules[4:5], map[string]fieldUse{"attributes": whole, "id": byResource}},
		{"HasPrivilege and owner", subjectRules[5:6], map[string]fieldUse{"id": byResource, "spaces": byResource}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := ""
			if tt.rules != nil {
				mod = compileRules(t, tt.rules)
			}
			if err := e.Load(ctx, int64(i+1), mod); err != nil {
				t.Fatal(err)
			}
			p := e.current.Load().proj
			if p.off {
				t.Fatal("projection off")
			}
			for f, u := range tt.want {
				if p.use[f] != u {
					t.Errorf("%s: use %d, want %d", f, p.use[f], u)
				}
			}
		})
	}
}

// residualRules read the subject's name, email, groups and attributes
// in atoms the engine leaves to the module (negations, matches) and in a
// rule compiled to Rego (HasPrivilege), which read those fields when the
// subject object has them only.
var residualRules = []rules.Rule{
	{ID: "not-bob", Name: "Not Bob", ResourceFilter: "App_*", Condition: `!(user.name = "Bob") and user.group = "Sales"`, Actions: []string{"reload", "read"}, Context: "hub"},
	{ID: "mail", Name: "a@ mails", ResourceFilter: "App_*, Space_*", Condition: `user.email matches "^a@"`, Actions: []string{"export"}, Context: "both"},
	{ID: "priv-group", Name: "Sales readers", ResourceFilter: "App.Object_*", Condition: `resource.app.HasPrivilege("read") and user.group = "Sales"`, Actions: []string{"update", "read"}, Context: "hub"},
	{ID: "dept", Name: "Finance but Q", ResourceFilter: "App_*", Condition: `user.@department = "Finance" and !(resource.name like "Q*")`, Actions: []string{"update", "read"}, Context: "hub"},
	{ID: "named", Name: "Alice duplicates", ResourceFilter: "App_*", Condition: `user.name = "Alice" or user.email = "a@x"`, Actions: []string{"duplicate", "read"}, Context: "hub"},
}

// TestProjectedDecisionsEqualFullEvaluation is the differential test of the
// projection (doc.go): on random inputs over a small universe of ids, so
// that subjects' ids, groups and spaces often meet the resource's, the
// engine's answer (projected input, decision cache on) equals a fresh
// evaluation of the whole input, under the static policy alone, the
// shipped rules, and rules that read the id, name, groups and attributes;
// the rules compiled to an index too, whose decisions the engine hands
// OPA a subject of the static policies' fields alone when it finds no
// atom for the module to test (valueWith), and the whole subject
// otherwise: both occur.
func TestProjectedDecisionsEqualFullEvaluation(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	all := append(append(slices.Clone(shippedRules), subjectRules...), residualRules...)
	sets := map[string][]rules.Rule{
		"static": nil, "shipped": shippedRules, "subject rules": append(slices.Clone(shippedRules), subjectRules...),
		"subject rules, indexed": all,
	}
	rev := int64(0)
	// In a fixed order: the revision seeds each set's random inputs, so a
	// run is repeatable.
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		rs := sets[name]
		t.Run(name, func(t *testing.T) {
			rev++
			indexed := strings.HasSuffix(name, "indexed")
			switch {
			case indexed:
				mod, data, diags := rules.CompileIndexed(rs, nil)
				if rules.HasErrors(diags) {
					t.Fatal(diags)
				}
				if err := e.LoadIndexed(ctx, rev, mod, data); err != nil {
					t.Fatal(err)
				}
			case rs != nil:
				if err := e.Load(ctx, rev, compileRules(t, rs)); err != nil {
					t.Fatal(err)
				}
			default:
				if err := e.Load(ctx, rev, ""); err != nil {
					t.Fatal(err)
				}
			}
			c := e.current.Load()
			rnd := rand.New(rand.NewPCG(uint64(rev), 7))
			n, allowed, hits := 6000, 0, 0
			core, whole := 0, 0 // indexed: inputs with a subject of the static fields, with every field
			if testing.Short() {
				n = 1500
			}
			for i := range n {
				// Each input and a look-alike: another subject that differs
				// in what the policy cannot see when the projection is sound.
				in := randomInput(rnd)
				for _, in := range []*Input{in, lookAlike(rnd, in)} {
					if indexed {
						v := c.proj.apply(in, new(Input)).valueWith(&e.strs, c.proj).Value.(ast.Object)
						if v.Get(kValues) != nil {
							if objectOf(v.Get(kSubject)).Get(kName) == nil {
								core++
							} else {
								whole++
							}
						}
					}
					k := keyOf(c, c.proj.apply(in, new(Input)))
					if direct := engineKey(c.revision, in, c.proj); direct != k {
						t.Fatalf("input %d: the key of the projection differs from the key of the projected input", i)
					}
					_, hit := e.decisions.Peek(k)
					got, err := e.Evaluate(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					// The whole input, every subject field in it (the engine
					// leaves out those the revision does not read).
					want, err := c.decide(ctx, in.value())
					if err != nil {
						t.Fatal(err)
					}
					if hit {
						hits++
					}
					if !sameDecision(got, want) || !slices.Equal(got.Grants, want.Grants) {
						t.Fatalf("input %d %+v %+v:\nprojected %+v\nfull      %+v", i, in.Subject, in.Resource, got, want)
					}
					if want.Allow {
						allowed++
					}
				}
			}
			t.Logf("%d inputs, %d allowed, %d answered from the cache; indexed: %d with the static fields of the subject, %d with all", n, allowed, hits, core, whole)
			if allowed == 0 || allowed == n || hits == 0 && !indexed { // (indexed: the rules read most fields whole)
				t.Fatalf("the sample does not exercise the policy: %d allowed, %d cache hits of %d", allowed, hits, n)
			}
			if indexed && (core < n/10 || whole == 0 || c.proj.noCore) {
				t.Fatalf("the sample does not exercise the subject's fields: %d inputs with the static ones, %d with all (no core: %v)", core, whole, c.proj.noCore)
			}
		})
	}
}

func keyOf(c *compiled, in *Input) [32]byte { return engineKey(c.revision, in, nil) }

// lookAlike is in with another subject id, name, email and groups, and
// spaces the resource does not name.
func lookAlike(r *rand.Rand, in *Input) *Input {
	out := *in
	s := &out.Subject
	s.ID = []string{"x1", "x2", "u1", "bob", ""}[r.IntN(5)]
	s.Name = []string{"Bob", "Carol"}[r.IntN(2)]
	s.Email = "b@x"
	s.Groups = []string{"Sales"}[:r.IntN(2)]
	s.GroupIDs = []string{"g1", "g3"}[:r.IntN(3)]
	s.Spaces = map[string][]string{"s9": {"owner"}}
	for id, roles := range in.Subject.Spaces {
		if r.IntN(4) > 0 {
			s.Spaces[id] = roles
		}
	}
	return &out
}

func randomInput(r *rand.Rand) *Input {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	some := func(xs ...string) []string {
		var out []string
		for _, x := range xs {
			if r.IntN(3) == 0 {
				out = append(out, x)
			}
		}
		return out
	}
	users := []string{"u1", "u2", "U1", "u3", "bob"}
	spaceRoles := [][]string{{"owner"}, {"admin"}, {"canedit"}, {"canview"}, {"canmanage"}, {"canpublish", "canview"},
		{"cancontribute"}, {"hasrestrictedview"}, {"canconsumedata"}, {"canoperate"}, {"admin", "canedit"}}
	s := Subject{
		ID: pick(append(users, "")...), Name: pick("Bob", "Alice", ""), Email: pick("", "a@x"),
		Status: pick("active", "active", "active", "disabled"), Anonymous: r.IntN(20) == 0,
		Roles:  some("TenantAdmin", "ContentAdmin", "SecurityAdmin"),
		Groups: some("Sales", "Finance"), GroupIDs: some("g1", "g2", "u1"),
		License: License{Type: pick("professional", "professional", "analyzer", "analyzer_capacity", ""),
			Excluded: r.IntN(10) == 0, CapacityExhausted: r.IntN(10) == 0},
	}
	if r.IntN(4) == 0 {
		s.Attributes = map[string][]string{"department": {pick("Finance", "Sales")}}
	}
	for _, sp := range []string{"s1", "s2", "s3", "s4"} {
		if r.IntN(2) == 0 {
			if s.Spaces == nil {
				s.Spaces = map[string][]string{}
			}
			s.Spaces[sp] = spaceRoles[r.IntN(len(spaceRoles))]
		}
	}
	spaceType := map[string]string{"s1": "shared", "s2": "managed", "s3": "shared", "s4": "managed", "": "personal"}
	res := Resource{Type: pick("app", "app", "app", "space", "app.object", "user", "decision", "schedule", "extension", "theme", "rule"),
		ID: pick("a1", "a2", "s1", "u1", "u2", "bob", ""), Name: pick("Team A", "Q4", "U2"), Owner: pick(append(users, "", "g1")...)}
	sid := pick("s1", "s2", "s3", "")
	if res.Type == "space" {
		sid = pick(res.ID, "s1", "s2")
	}
	if r.IntN(6) > 0 || res.Type == "space" {
		res.SpaceID = sid
		res.SpaceType = spaceType[sid]
		if sid != "" {
			res.Space = &Related{ID: sid, Name: "Space " + sid, Type: spaceType[sid], Owner: pick(users...)}
		}
	} else if r.IntN(2) == 0 {
		res.Space = &Related{ID: sid, Type: spaceType[sid]}
	}
	switch res.Type {
	case "app.object", "schedule":
		res.ObjectType = pick("sheet", "story", "bookmark", "masteritem", "snapshot")
		res.Public = r.IntN(2) == 0
		res.App = &Related{ID: "a1", Name: "App", Owner: pick(users...), SpaceID: sid}
	case "app":
		res.SectionAccess = r.IntN(5) == 0
	}
	if r.IntN(3) == 0 {
		res.TargetSpaceID = pick("s1", "s2", "s3", "s4")
		res.TargetSpaceType = spaceType[res.TargetSpaceID]
	}
	if r.IntN(5) == 0 {
		res.Attributes = map[string][]string{"tags": {pick("u3", "x")}}
	}
	actions := []string{"create", "read", "read", "update", "delete", "export", "export_data", "publish", "duplicate", "move",
		"reload", "change_owner", "manage_members", "view_data_model", "make_public", "make_private", "take_snapshot"}
	return &Input{Subject: s, Action: pick(actions...), Resource: res, Environment: pick("hub", "hub", "console")}
}

// TestCoreFields: the subject fields an input whose input.va leaves no
// atom to the module carries (projection.core) are those the static
// policies read, and the generated module's reads of the others are all
// in rules such an input does not reach (coreReaders); a module that reads
// one elsewhere gets the whole subject (noCore).
func TestCoreFields(t *testing.T) {
	all := append(append(slices.Clone(shippedRules), subjectRules...), residualRules...)
	mod, _, diags := rules.CompileIndexed(all, nil)
	if rules.HasErrors(diags) {
		t.Fatal(diags)
	}
	e := indexedEngine(t, all)
	p := e.current.Load().proj
	if p.noCore {
		t.Fatal("the indexed module reads a subject field outside its value lists, atoms and rules compiled to Rego")
	}
	if p.f.name == unread || p.f.email == unread || p.f.groups == unread || p.f.attributes == unread {
		t.Fatalf("the rules read name, email, groups and attributes: %+v", p.f)
	}
	want := p.f
	want.name, want.email, want.groups, want.attributes = unread, unread, unread, unread
	if p.core != want {
		t.Errorf("core %+v, want %+v", p.core, want)
	}
	m, err := ast.ParseModuleWithOpts(GeneratedModuleName, mod, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	if !coreReaders(m) {
		t.Error("coreReaders refuses the emitted module")
	}
	extra, err := ast.ParseModuleWithOpts(GeneratedModuleName, mod+"\n_named if input.subject.name == \"Bob\"\n", ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	if coreReaders(extra) {
		t.Error("coreReaders accepts a module that reads input.subject.name in _named")
	}
}
