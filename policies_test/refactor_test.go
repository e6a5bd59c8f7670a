package policies_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/rulekeeper/rulekeeper/policies"
)

// TestRefactorAgreesWithOldPolicy is a tool for rewriting the policy for
// speed: with RULEKEEPER_OLD_POLICIES set to another checkout's policies/
// directory (e.g. main's), it decides 45,000 seeded random inputs with both
// (every resource type of the vocabulary and two more, every action, every
// space type, every license type, each also absent, the other fields
// random, absent ones included) and requires the same decision: allow,
// grants with their names, denies. Skipped without the variable (CI has no
// second checkout); the Rego tests pin the behaviour there.
func TestRefactorAgreesWithOldPolicy(t *testing.T) {
	dir := os.Getenv("RULEKEEPER_OLD_POLICIES")
	if dir == "" {
		t.Skip("RULEKEEPER_OLD_POLICIES is not set")
	}
	newModules, err := policies.Modules()
	if err != nil {
		t.Fatal(err)
	}
	newData, err := policies.Data()
	if err != nil {
		t.Fatal(err)
	}
	oldModules, oldData := readPolicyDir(t, dir)
	ungated := map[string]any{"ungated": map[string]any{"ticket": true}}
	newData["rulekeeper_types"], oldData["rulekeeper_types"] = ungated, ungated
	oldQ, newQ := prepareDecision(t, oldModules, oldData), prepareDecision(t, newModules, newData)

	voc := newData["rulekeeper"].(map[string]any)["vocabulary"].(map[string]any)
	types := append(sortedKeys(voc["resourceTypes"]), "ticket", "unknown")
	actions, objectTypes := sortedKeys(voc["actions"]), sortedKeys(voc["objectTypes"])
	g := inputGen{r: rand.New(rand.NewPCG(12, 5))}
	ctx := context.Background()
	n, differ := 0, 0
	for _, typ := range types {
		for _, action := range actions {
			for _, spaceType := range []any{"shared", "managed", "personal", "", absent} {
				for _, license := range []any{"professional", "analyzer", "analyzer_capacity", "", absent} {
					for range 3 {
						in := g.input(typ, action, spaceType, license, objectTypes)
						a, errA := oldQ.Eval(ctx, rego.EvalInput(in))
						b, errB := newQ.Eval(ctx, rego.EvalInput(in))
						n++
						if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
							if differ++; differ <= 5 {
								t.Errorf("the decisions differ for %v:\nold: %v %v\nnew: %v %v", in, a, errA, b, errB)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d inputs, %d decisions differ", n, differ)
}

// absent marks a field left out of the input.
var absent = struct{}{}

// inputGen builds random inputs.
type inputGen struct{ r *rand.Rand }

func (g inputGen) pick(xs ...any) any { return xs[g.r.IntN(len(xs))] }

func (g inputGen) input(typ, action string, spaceType, licenseType any, objectTypes []string) map[string]any {
	set := func(m map[string]any, k string, v any) {
		if v != absent {
			m[k] = v
		}
	}
	subject := map[string]any{
		"id": g.pick("u-me", "u-me", ""), "status": g.pick("active", "active", "active", "disabled"),
		"anonymous": g.pick(false, false, false, true), "groupIds": []any{"g-sales"},
		"roles": g.pick([]any{}, []any{}, []any{"TenantAdmin"}, []any{"HubAdmin"}, []any{"Developer"}, []any{"ContentAdmin"}),
	}
	license := map[string]any{"excluded": g.pick(false, false, false, true), "capacityExhausted": g.pick(false, false, false, true)}
	set(license, "type", licenseType)
	set(subject, "license", g.pick(license, license, license, absent))
	spaces := map[string]any{}
	if role := g.pick("owner", "admin", "canedit", "canview", "canpublish", "cancontribute", "canmanage", "none"); role != "none" {
		spaces["sp-1"] = []any{role}
	}
	if g.pick(true, false).(bool) {
		spaces["sp-2"] = []any{g.pick("owner", "canedit", "canpublish", "canview")}
	}
	subject["spaces"] = spaces
	resource := map[string]any{
		"type": typ, "id": g.pick("a-1", "u-me", "sp-1", ""), "owner": g.pick("u-me", "u-other", ""),
		"public": g.pick(true, false), "sectionAccess": g.pick(true, false, false),
	}
	set(resource, "spaceType", spaceType)
	set(resource, "spaceId", g.pick("sp-1", "sp-1", "", absent))
	ots := []any{"", absent}
	for _, ot := range objectTypes {
		ots = append(ots, ot)
	}
	set(resource, "objectType", g.pick(ots...))
	set(resource, "space", g.pick(map[string]any{"id": "sp-1", "type": g.pick("shared", "managed", "")}, absent))
	set(resource, "app", g.pick(map[string]any{"id": "a-1", "owner": g.pick("u-me", "u-other"), "spaceId": g.pick("sp-1", ""),
		"sharedWith": g.pick([]any{"u-me"}, []any{})}, absent))
	set(resource, "sharedWith", g.pick([]any{"u-me"}, []any{"g-sales"}, []any{"u-x"}, []any{}, absent, absent))
	set(resource, "targetSpaceId", g.pick("sp-2", "", absent))
	set(resource, "targetSpaceType", g.pick("shared", "managed", "personal", "", absent))
	in := map[string]any{"subject": subject, "action": action, "resource": resource}
	set(in, "context", g.pick(map[string]any{"environment": g.pick("hub", "hub", "console", "", "HUB")}, absent))
	return in
}

// readPolicyDir reads the Rego modules and JSON documents of a policies/
// directory as policies.Modules and policies.Data give them.
func readPolicyDir(t *testing.T, dir string) (map[string]string, map[string]any) {
	t.Helper()
	modules := map[string]string{}
	names, _ := filepath.Glob(filepath.Join(dir, "*.rego"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		modules[filepath.Base(name)] = string(b)
	}
	data := map[string]any{}
	names, _ = filepath.Glob(filepath.Join(dir, "*.json"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mergeDoc(data, doc)
	}
	return modules, data
}

func mergeDoc(dst, src map[string]any) {
	for k, v := range src {
		if d, ok := dst[k].(map[string]any); ok {
			if s, ok := v.(map[string]any); ok {
				mergeDoc(d, s)
				continue
			}
		}
		dst[k] = v
	}
}

func prepareDecision(t *testing.T, modules map[string]string, data map[string]any) rego.PreparedEvalQuery {
	t.Helper()
	opts := []func(*rego.Rego){rego.Query("data.rulekeeper.authz.decision"), rego.Store(inmem.NewFromObject(data))}
	for name, src := range modules {
		opts = append(opts, rego.Module(name, src))
	}
	q, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func sortedKeys(v any) []string {
	m, _ := v.(map[string]any)
	return keys(m)
}
