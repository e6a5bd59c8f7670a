package authz_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/policies"
)

func newEngine(t testing.TB, opts authz.Options) *authz.Engine {
	t.Helper()
	if opts.Modules == nil {
		m, err := policies.Modules()
		if err != nil {
			t.Fatal(err)
		}
		opts.Modules = m
		if opts.Data, err = policies.Data(); err != nil {
			t.Fatal(err)
		}
	}
	e, err := authz.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// member is a professional user with roles in space sp-1.
func member(id, license string, roles ...string) authz.Subject {
	return authz.Subject{ID: id, Name: id, Status: "active", License: authz.License{Type: license},
		Spaces: map[string][]string{"sp-1": roles}}
}

var sharedApp = authz.Resource{Type: "app", ID: "a-1", Name: "Q4 report", Owner: "u-owner", SpaceID: "sp-1",
	SpaceType: "shared", Space: &authz.Related{ID: "sp-1", Name: "Sales", Type: "shared", Owner: "u-space"}}

func TestEvaluateExplainsGrantsAndGates(t *testing.T) {
	e := newEngine(t, authz.Options{})
	tests := []struct {
		name     string
		subject  authz.Subject
		action   string
		allow    bool
		grant    string // a grant id that must be named
		gate     string // a deny reason that must be named
		resource authz.Resource
	}{
		{"can view opens", member("u1", "professional", "canview"), "read", true, "shared.app.open", "", sharedApp},
		{"can view cannot delete", member("u1", "professional", "canview"), "delete", false, "", "", sharedApp},
		{"can edit deletes", member("u1", "professional", "canedit"), "delete", true, "shared.app.delete", "", sharedApp},
		{"analyzer cannot reload", member("u1", "analyzer", "canedit"), "reload", false, "", "analyzer_license", sharedApp},
		{"disabled user", func() authz.Subject { s := member("u1", "professional", "admin"); s.Status = "disabled"; return s }(), "read", false, "", "user_disabled", sharedApp},
		{"no license", member("u1", "", "admin"), "read", false, "", "no_license", sharedApp},
		{"excluded", func() authz.Subject {
			s := member("u1", "professional", "admin")
			s.License.Excluded = true
			return s
		}(), "read", false, "", "license_excluded", sharedApp},
		{"stranger", authz.Subject{ID: "u9", Status: "active", License: authz.License{Type: "professional"}}, "read", false, "", "", sharedApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Evaluate(context.Background(), &authz.Input{Subject: tt.subject, Action: tt.action, Resource: tt.resource, Environment: "hub"})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v: %+v", d.Allow, tt.allow, d)
			}
			if tt.grant != "" && !hasGrant(d, tt.grant) {
				t.Fatalf("grants %+v do not name %s", d.Grants, tt.grant)
			}
			if tt.gate != "" && !hasDeny(d, tt.gate) {
				t.Fatalf("denies %+v do not name %s", d.Denies, tt.gate)
			}
			if d.Allow && len(d.Grants) == 0 {
				t.Fatal("allowed without a grant")
			}
		})
	}
}

func hasGrant(d authz.Decision, prefix string) bool {
	for _, g := range d.Grants {
		if strings.HasPrefix(g.ID, prefix) {
			return true
		}
	}
	return false
}

func hasDeny(d authz.Decision, reason string) bool {
	for _, g := range d.Denies {
		if g.Reason == reason {
			return true
		}
	}
	return false
}

func TestFailsClosed(t *testing.T) {
	tests := []struct {
		name   string
		module string
	}{
		{"undefined decision", "package rulekeeper.authz\n\nother := 1\n"},
		{"not an object", "package rulekeeper.authz\n\ndecision := true\n"},
		{"allow not boolean", "package rulekeeper.authz\n\ndecision := {\"allow\": \"yes\", \"grants\": [], \"denies\": []}\n"},
		{"allow without grant", "package rulekeeper.authz\n\ndecision := {\"allow\": true, \"grants\": [], \"denies\": []}\n"},
		{"allow despite a gate", "package rulekeeper.authz\n\ndecision := {\"allow\": true, \"grants\": [{\"kind\": \"role\", \"id\": \"x\"}], \"denies\": [{\"kind\": \"gate\", \"reason\": \"r\"}]}\n"},
		{"grant not an object", "package rulekeeper.authz\n\ndecision := {\"allow\": true, \"grants\": [\"role\"], \"denies\": []}\n"},
		{"deny not an object", "package rulekeeper.authz\n\ndecision := {\"allow\": false, \"grants\": [], \"denies\": [\"gate\"]}\n"},
		{"runtime error", "package rulekeeper.authz\n\ndecision := {\"allow\": true, \"grants\": [{\"kind\": \"role\", \"id\": sprintf(\"%v\", [1/0])}], \"denies\": []}\n"},
		{"conflicting values", "package rulekeeper.authz\n\ndecision := {\"allow\": true} if input.action == \"read\"\n\ndecision := {\"allow\": false} if input.action == \"read\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, authz.Options{Modules: map[string]string{"p.rego": tt.module}})
			d, err := e.Evaluate(context.Background(), &authz.Input{Subject: member("u1", "professional"), Action: "read", Resource: sharedApp})
			if err == nil {
				t.Fatalf("no error; decision %+v", d)
			}
			if d.Allow {
				t.Fatal("an error allowed")
			}
		})
	}
}

// TestDecisionPartsAllowDoesNotRead: the engine reads grants and denies
// from the evaluation of allow when allow computed them (the shipped
// policy) and asks OPA for them otherwise; either way the decision is the
// policy's, and a part the policy leaves undefined fails closed.
func TestDecisionPartsAllowDoesNotRead(t *testing.T) {
	const gates = "package rulekeeper.gates\n\ndenies contains {\"kind\": \"gate\", \"reason\": \"r\"} if input.action == \"delete\"\n"
	tests := []struct {
		name, module string
		action       string
		want         authz.Decision // Revision left out
		fails        bool
	}{
		{"allow reads nothing", "package rulekeeper.authz\n\nallow := input.action == \"read\"\n\ngrants := {{\"kind\": \"role\", \"id\": \"x\"}}\n",
			"read", authz.Decision{Allow: true, Grants: []authz.Grant{{Kind: "role", ID: "x"}}, Denies: []authz.Deny{}}, false},
		{"a gate allow does not read", "package rulekeeper.authz\n\nallow := false\n\ngrants := set()\n",
			"delete", authz.Decision{Grants: []authz.Grant{}, Denies: []authz.Deny{{Kind: "gate", Reason: "r"}}}, false},
		{"allow reads grants only", "package rulekeeper.authz\n\nallow if count(grants) > 0\n\ndefault allow := false\n\ngrants := {{\"kind\": \"role\", \"id\": \"x\"}} if input.action == \"read\"\n\ngrants := set() if input.action != \"read\"\n",
			"delete", authz.Decision{Grants: []authz.Grant{}, Denies: []authz.Deny{{Kind: "gate", Reason: "r"}}}, false},
		{"grants undefined", "package rulekeeper.authz\n\nallow := false\n", "read", authz.Decision{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, authz.Options{Modules: map[string]string{"p.rego": tt.module, "gates.rego": gates}, CacheSize: -1})
			d, err := e.Evaluate(context.Background(), &authz.Input{Subject: member("u1", "professional"), Action: tt.action, Resource: sharedApp})
			if tt.fails {
				if err == nil || d.Allow {
					t.Fatalf("no error: %+v", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d.Revision = 0
			if !reflect.DeepEqual(d, tt.want) {
				t.Fatalf("decision %+v, want %+v", d, tt.want)
			}
		})
	}
}

func TestLoadKeepsTheWorkingPolicyOnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEngine(t, authz.Options{Registry: reg})
	in := &authz.Input{Subject: member("u1", "professional", "canview"), Action: "read", Resource: sharedApp, Environment: "hub"}
	if err := e.Load(context.Background(), 7, "package rulekeeper.rules\n\ngrants contains x if {"); err == nil {
		t.Fatal("a broken rules module loaded")
	}
	if e.Revision() != 0 {
		t.Fatalf("revision %d after a failed load", e.Revision())
	}
	if got := metricValue(t, reg, "rulekeeper_rules_compile_errors_total", ""); got != 1 {
		t.Fatalf("compile errors metric = %v", got)
	}
	d, err := e.Evaluate(context.Background(), in)
	if err != nil || !d.Allow {
		t.Fatalf("after a failed load: %+v, %v", d, err)
	}
	rule := `package rulekeeper.rules

grants contains {"kind": "rule", "id": "r1", "name": "everyone deletes"} if {
	input.resource.type == "app"
	input.action == "delete"
}
`
	if err := e.Load(context.Background(), 8, rule); err != nil {
		t.Fatal(err)
	}
	in.Action = "delete"
	d, err = e.Evaluate(context.Background(), in)
	if err != nil || !d.Allow || d.Revision != 8 || !hasGrant(d, "r1") {
		t.Fatalf("with the rule: %+v, %v", d, err)
	}
}

func TestDecisionCacheIsKeyedByRevisionAndInput(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEngine(t, authz.Options{Registry: reg})
	ctx := context.Background()
	in := &authz.Input{Subject: member("u1", "professional", "canview"), Action: "delete", Resource: sharedApp, Environment: "hub"}
	hits := func() float64 { return metricValue(t, reg, "rulekeeper_decision_cache_total", "hit") }
	d1, _ := e.Evaluate(ctx, in)
	d2, _ := e.Evaluate(ctx, in)
	if hits() != 1 || d1.Allow != d2.Allow {
		t.Fatalf("second identical decision: hits %v", hits())
	}
	// A change to the input (a new role) must not hit the old entry.
	in.Subject.Spaces = map[string][]string{"sp-1": {"canedit"}}
	d3, _ := e.Evaluate(ctx, in)
	if hits() != 1 || !d3.Allow {
		t.Fatalf("changed role: hits %v, allow %v", hits(), d3.Allow)
	}
	// A new revision must not hit entries of the old one.
	if err := e.Load(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	if d4, _ := e.Evaluate(ctx, in); hits() != 1 || d4.Revision != 1 {
		t.Fatalf("new revision: hits %v, revision %d", hits(), d4.Revision)
	}
}

// metricValue reads a counter, selected by its result label when given.
func metricValue(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if result == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestNewRejectsMissingOrBrokenPolicies(t *testing.T) {
	if _, err := authz.New(context.Background(), authz.Options{}); err == nil {
		t.Fatal("no modules accepted")
	}
	_, err := authz.New(context.Background(), authz.Options{Modules: map[string]string{"x.rego": "package x\n\nallow if {"}})
	if err == nil || !strings.Contains(err.Error(), "x.rego") {
		t.Fatalf("broken module: %v", err)
	}
	if errors.Is(err, authz.ErrNotFound) {
		t.Fatal("wrong error kind")
	}
}

func TestCancelledContextDenies(t *testing.T) {
	e := newEngine(t, authz.Options{CacheSize: -1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := &authz.Input{Subject: member("u1", "professional", "canview"), Action: "read", Resource: sharedApp, Environment: "hub"}
	d, err := e.Evaluate(ctx, in)
	if !errors.Is(err, context.Canceled) || d.Allow {
		t.Fatalf("cancelled: %+v, %v; want a deny and context.Canceled", d, err)
	}
	if d, err := e.Evaluate(context.Background(), in); err != nil || !d.Allow {
		t.Fatalf("after: %+v, %v; want an allow", d, err)
	}
}

// lateCtx is a context cancelled while a decision evaluates: its first
// Err (the engine's check before evaluating) answers nil, every later one
// context.Canceled, and Done is closed from the start.
type lateCtx struct {
	context.Context
	done  chan struct{}
	calls int
}

func (c *lateCtx) Done() <-chan struct{} { return c.done }

func (c *lateCtx) Err() error {
	c.calls++
	if c.calls == 1 {
		return nil
	}
	return context.Canceled
}

// TestCancelledDuringEvaluationDenies: a context cancelled after the
// evaluation started stops it (OPA asks before every expression) and the
// decision is a deny with context.Canceled.
func TestCancelledDuringEvaluationDenies(t *testing.T) {
	e := newEngine(t, authz.Options{CacheSize: -1})
	ctx := &lateCtx{Context: context.Background(), done: make(chan struct{})}
	close(ctx.done)
	in := &authz.Input{Subject: member("u1", "professional", "canview"), Action: "read", Resource: sharedApp, Environment: "hub"}
	d, err := e.Evaluate(ctx, in)
	if !errors.Is(err, context.Canceled) || d.Allow {
		t.Fatalf("cancelled during evaluation: %+v, %v; want a deny and context.Canceled", d, err)
	}
	if ctx.calls < 2 {
		t.Fatalf("the evaluation never looked at the context again (%d calls of Err)", ctx.calls)
	}
}

// TestFreshGatesEveryDecision: while Fresh fails (what decisions use is
// older than the staleness bound and cannot be brought current), a
// decision fails with its error and is never an allow — also one the
// cache holds; once Fresh succeeds, the same decision allows again.
func TestFreshGatesEveryDecision(t *testing.T) {
	away := errors.New("the change log is out of reach")
	var fail bool
	e := newEngine(t, authz.Options{Fresh: func(context.Context) error {
		if fail {
			return away
		}
		return nil
	}})
	in := &authz.Input{Subject: member("u1", "professional", "canview"), Action: "read", Resource: sharedApp, Environment: "hub"}
	for _, tt := range []struct {
		name  string
		fail  bool
		allow bool
	}{{"fresh", false, true}, {"stale, cached before", true, false}, {"fresh again", false, true}} {
		fail = tt.fail
		d, err := e.Evaluate(context.Background(), in)
		if tt.fail != errors.Is(err, away) || d.Allow != tt.allow {
			t.Fatalf("%s: allow %v, error %v", tt.name, d.Allow, err)
		}
	}
}

// TestConcurrentDecisionsAgree: decisions taken side by side (sharing the
// pooled evaluator caches and the interned input terms) equal the same
// decisions taken one at a time. Run with -race.
func TestConcurrentDecisionsAgree(t *testing.T) {
	e := newEngine(t, authz.Options{CacheSize: -1})
	ctx := context.Background()
	roles := []string{"canview", "canedit", "admin", "owner", ""}
	actions := []string{"read", "delete", "update", "export", "reload"}
	var ins []*authz.Input
	for i := range 60 {
		s := member(fmt.Sprintf("u-%d", i%7), []string{"professional", "analyzer", ""}[i%3], roles[i%len(roles)])
		ins = append(ins, &authz.Input{Subject: s, Action: actions[(i/5)%len(actions)], Resource: sharedApp, Environment: []string{"hub", "console"}[i%2]})
	}
	want := make([]authz.Decision, len(ins))
	for i, in := range ins {
		d, err := e.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = d
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 3 * len(ins) {
				i := (k*7 + w) % len(ins)
				d, err := e.Evaluate(ctx, ins[i])
				if err != nil {
					t.Error(err)
					return
				}
				if !reflect.DeepEqual(d, want[i]) {
					t.Errorf("input %d side by side: %+v, alone %+v", i, d, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestEngineAgreesWithTheDecisionRule decides the real mix (realMix, app
// objects included) with the engine, which reads allow's parts from one
// evaluation of allow (the built-in grants, the rules' grants and the
// denies apart), and with rego evaluating the whole decision object of
// policies/decision.rego (DecisionQuery) on the same input as JSON, as a
// stock OPA would: the same allow, grants (names included) and denies, with
// the demo tenant's rules in force and without rules.
func TestEngineAgreesWithTheDecisionRule(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 600
	}
	ins := realMix(n, true)
	// Inputs that leave the space type, the space id or both unsaid: the
	// engine sends them "" and leaves the policy's rules for absent fields
	// out of its compilation (prune.go); stock OPA sees them absent and
	// evaluates those rules.
	for i, in := range ins[:len(ins)/2] {
		c := *in
		switch i % 3 {
		case 0:
			c.Resource.SpaceType = ""
		case 1:
			c.Resource.SpaceID = ""
		default:
			c.Resource.SpaceType, c.Resource.SpaceID = "", ""
		}
		ins = append(ins, &c)
	}
	// Subjects with a license type the store does not have: the engine
	// decides them with the policy as written, its own compilation having
	// left out the rule for them (prune.go, pruneClosedRules).
	for i, in := range ins[:len(ins)/10] {
		c := *in
		c.Subject.License.Type = []string{"enterprise", "Professional", " analyzer"}[i%3]
		ins = append(ins, &c)
	}
	// Subjects with the flags the gates refuse on, alone and together:
	// the engine sends input.subject.flagged and leaves the gates' bodies
	// for inputs without it out of its compilation (prune.go,
	// pruneUnflaggedRules); stock OPA sees no such field.
	for i, in := range ins[:len(ins)/10] {
		c := *in
		l := &c.Subject.License
		switch i % 6 {
		case 0:
			c.Subject.Anonymous = true
		case 1:
			l.Excluded = true
		case 2:
			l.CapacityExhausted = true
		case 3:
			c.Subject.Status, l.Excluded = "disabled", true
		case 4:
			c.Subject.Anonymous, l.CapacityExhausted = true, true
		default:
			c.Subject.Status, c.Subject.Anonymous, l.Excluded, l.CapacityExhausted = "disabled", true, true, true
		}
		ins = append(ins, &c)
	}
	mods, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	// HasPrivilege evaluates the policy on the related app with `with`:
	// the engine keeps its rules for absent fields out then too (the
	// related resource has both fields, rules.RelDefaults).
	privileged := append(slices.Clone(authz.ShippedRules),
		rules.Rule{ID: "hp1", Name: "Objects of readable apps", ResourceFilter: "App.Object_*", Actions: []string{"read", "update"},
			Condition: `resource.app.HasPrivilege("update") and resource.owner = user`},
		rules.Rule{ID: "hp2", Name: "Objects of exportable apps", ResourceFilter: "App.Object_*", Actions: []string{"read"},
			Condition: `resource.app.HasPrivilege("export")`})
	// The plain compilation too: what stock OPA is given (rulescale,
	// loadbench) and what the server used for small sets until secrules'
	// plainUpTo became 0.
	for _, tc := range []struct {
		name  string
		set   []rules.Rule
		plain bool
	}{{"shipped rules", authz.ShippedRules, false}, {"shipped rules, plain", authz.ShippedRules, true},
		{"with HasPrivilege", privileged, false}, {"with HasPrivilege, plain", privileged, true}, {"no rules", nil, false}} {
		set, withRules := tc.set, tc.set != nil
		mod, rulesData, diags := rules.CompileIndexed(set, rules.DefaultVocabulary())
		if tc.plain {
			mod, diags = rules.CompileModule(set, rules.DefaultVocabulary())
			rulesData = nil
		}
		if rules.HasErrors(diags) {
			t.Fatal(diags)
		}
		data, err := policies.Data()
		if err != nil {
			t.Fatal(err)
		}
		e := newEngine(t, authz.Options{CacheSize: -1})
		opts := []func(*rego.Rego){rego.Query(authz.DecisionQuery)}
		if withRules {
			if err := e.LoadIndexed(context.Background(), 1, mod, rulesData); err != nil {
				t.Fatal(err)
			}
			if rulesData != nil {
				data[rules.DataRoot] = rulesData
			}
			opts = append(opts, rego.Module(authz.GeneratedModuleName, mod))
		}
		for name, src := range mods {
			opts = append(opts, rego.Module(name, src))
		}
		pq, err := rego.New(append(opts, rego.Store(inmem.NewFromObject(data)))...).PrepareForEval(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ev, err := e.InForce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		allowed, byPrivilege := 0, 0
		for i, in := range ins {
			got, err := e.Evaluate(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			// What-if evaluations take the other path to the policy as
			// written for a license type the store does not have.
			if i >= len(ins)-len(ins)/11 {
				w, err := ev.Evaluate(context.Background(), in)
				if err != nil || w.Allow != got.Allow || !slices.Equal(w.Grants, got.Grants) || !slices.Equal(w.Denies, got.Denies) {
					t.Fatalf("input %d (license %q): what-if %+v (%v), engine %+v", i, in.Subject.License.Type, w, err, got)
				}
			}
			// The contract's shape (CONTRACT.md), as JSON: fields the
			// engine sends empty are absent here.
			rs, err := pq.Eval(context.Background(), rego.EvalInput(map[string]any{"subject": in.Subject,
				"action": in.Action, "resource": in.Resource, "context": map[string]string{"environment": in.Environment}}))
			if err != nil || len(rs) != 1 {
				t.Fatalf("input %d: %v %v", i, rs, err)
			}
			var want struct {
				Allow  bool          `json:"allow"`
				Grants []authz.Grant `json:"grants"`
				Denies []authz.Deny  `json:"denies"`
			}
			b, _ := json.Marshal(rs[0].Expressions[0].Value)
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(want.Grants, func(a, b authz.Grant) int {
				return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.ID, b.ID), strings.Compare(a.Name, b.Name))
			})
			if got.Allow != want.Allow || !slices.Equal(got.Grants, want.Grants) || !slices.Equal(got.Denies, want.Denies) {
				t.Fatalf("%s, input %d %+v:\nengine   %+v\ndecision %+v", tc.name, i, in, got, want)
			}
			if got.Allow {
				allowed++
			}
			for _, g := range got.Grants {
				if strings.HasPrefix(g.ID, "hp") {
					byPrivilege++
				}
			}
		}
		if tc.name == "with HasPrivilege" && byPrivilege == 0 {
			t.Fatal("no HasPrivilege rule granted: the mix does not test the related resource")
		}
		if allowed == 0 || allowed == len(ins) {
			t.Fatalf("%s: %d of %d allowed: the mix should hold both", tc.name, allowed, len(ins))
		}
	}
}
