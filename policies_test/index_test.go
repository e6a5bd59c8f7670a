package policies_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

var updateIndex = flag.Bool("update-index", false, "rewrite policies/index.json from the tables")

// indexFile is the derived data document the policy's hot paths read.
const indexFile = "../policies/index.json"

// TestIndexIsDerivedFromTheTables checks that policies/index.json
// (data.rulekeeper.index) is exactly what deriveIndex makes of the tables
// beside it: the index is derived data, never edited by hand. Run
// `go test ./policies_test -run IndexIsDerived -update-index` after
// changing a table.
func TestIndexIsDerivedFromTheTables(t *testing.T) {
	data := policyData(t)
	tables := path(data, "rulekeeper", "tables")
	want, err := json.MarshalIndent(map[string]any{"rulekeeper": map[string]any{"index": deriveIndex(tables)}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateIndex {
		if err := os.WriteFile(indexFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(indexFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not derived from the tables; run go test ./policies_test -run IndexIsDerived -update-index", indexFile)
	}
	// The embedded copy is the file: Data() holds the same index.
	emb, _ := json.Marshal(path(data, "rulekeeper", "index"))
	der, _ := json.Marshal(deriveIndex(tables))
	if !bytes.Equal(emb, der) {
		t.Fatal("policies.Data() does not hold the derived index")
	}
}

// TestDeriveIndexExamples pins a few entries of the index to the seed, so
// that deriveIndex itself can fail: a Can edit professional opens an app,
// a Can view professional does not delete it, the professional table's
// "Reload the app" is the role's (any app owner) and editing the data model
// the app owner's, a professional gets the analyzer
// table's "Change app owners", moves are not indexed, only analyzers' own
// rows are open to them, and the personal and managed grants carry their
// names.
func TestDeriveIndexExamples(t *testing.T) {
	idx := deriveIndex(path(policyData(t), "rulekeeper", "tables"))
	tests := []struct {
		name string
		keys []string
		want string // JSON of the entry; "" when absent
	}{
		{"can edit opens", []string{"shared", "plain", "professional", "app", "read", "*", "canedit"},
			`[{"id":"shared.app.open","kind":"table","name":"Open an app (Can edit)"}]`},
		{"analyzer capacity opens", []string{"shared", "plain", "analyzer_capacity", "app", "read", "*", "canview"},
			`[{"id":"shared.app.open","kind":"table","name":"Open an app (Can view)"}]`},
		{"can view does not delete", []string{"shared", "plain", "professional", "app", "delete", "*", "canview"}, ""},
		{"reload is the role's, not the app owner's (§6.7 Reloading apps in a shared space)", []string{"shared", "plain", "professional", "app", "reload", "*", "canedit"},
			`[{"id":"shared.app.reload","kind":"table","name":"Reload the app (Can edit)"}]`},
		{"reload does not need the app owner", []string{"shared", "appOwner", "professional", "app", "reload"}, ""},
		{"can view does not reload", []string{"shared", "plain", "professional", "app", "reload", "*", "canview"}, ""},
		{"data model editing needs the app owner", []string{"shared", "appOwner", "professional", "app", "edit_data_model", "*", "owner"},
			`[{"id":"shared.app.edit_data_model","kind":"table","name":"Open and edit the data model in Data load editor or Data manager (Owner)"}]`},
		{"professional falls back to the analyzer table", []string{"shared", "plain", "professional", "app", "change_owner", "*", "owner"},
			`[{"id":"shared.space.change_app_owner","kind":"table","name":"Change app owners (Owner)"}]`},
		{"blank cell", []string{"shared", "plain", "professional", "app", "change_owner", "*", "canedit"}, ""},
		{"moves are not indexed", []string{"shared", "plain", "professional", "app", "move"}, ""},
		{"no license", []string{"shared", "plain", ""}, ""},
		{"manage members", []string{"shared", "plain", "professional", "space", "manage_members", "*", "admin"},
			`[{"id":"shared.space.add_members","kind":"table","name":"Add members to the space (Is admin)"},` +
				`{"id":"shared.space.change_member_roles","kind":"table","name":"Change member permissions for the space (Is admin, Can edit, Can view) (Is admin)"},` +
				`{"id":"shared.space.remove_members","kind":"table","name":"Remove members from the space (Is admin)"}]`},
		{"reload is professional only", []string{"professionalOnly", "app", "reload", "*"}, "true"},
		{"opening is not", []string{"professionalOnly", "app", "read", "*"}, ""},
		{"personal owner", []string{"personal", "owner", "app", "update", "*"},
			`{"id":"personal.owner","kind":"personal","name":"App owner in a personal space"}`},
		{"personal viewer only reads", []string{"personal", "viewer", "app", "update"}, ""},
		{"managed can view", []string{"managed", "canview", "app.object", "create", "sheet"},
			`{"id":"managed.canview","kind":"managed","name":"Can view in a managed space"}`},
		{"publishing is not indexed", []string{"managed", "canpublish", "app", "publish"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := get(idx, tt.keys...)
			got := ""
			if v != nil {
				b, _ := json.Marshal(v)
				got = string(b)
			}
			if got != tt.want {
				t.Fatalf("index.%s = %s, want %s", strings.Join(tt.keys, "."), got, tt.want)
			}
		})
	}
}

// deriveIndex computes data.rulekeeper.index from data.rulekeeper.tables,
// with the semantics the policy gives the tables (policies/README.md):
//
//   - shared.plain / shared.appOwner [licenseType][type][action][objectType][role]:
//     the grants {kind: table, id, name: "<row> (<column>)"} of the §6.7
//     rows the target index names for the request, whose cell for the role
//     says "Yes", in the table of the license (professional: the
//     professional row, else the analyzer row; analyzer and
//     analyzer_capacity: the analyzer row); rows with the footnote (a true
//     appOwner) under appOwner. Moves are decided on both spaces and are
//     not indexed.
//   - professionalOnly[type][action][objectType]: true when every row the
//     target index names is missing from the analyzer table.
//   - personal[role][type][action][objectType] and
//     managed[role][type][action][objectType]: the grant of the role
//     (kind personal / managed) when its table lists the action on the type
//     for the object type ("*" for types other than app.object); managed
//     publishing is decided on the target space and is not indexed.
func deriveIndex(tables map[string]any) map[string]any {
	shared := path(tables, "shared")
	columns := path(shared, "columns")
	targets := path(shared, "targets")
	licenses := map[string][]string{
		"professional":      {"professional", "analyzer"},
		"analyzer":          {"analyzer"},
		"analyzer_capacity": {"analyzer"},
	}
	row := func(lic, id string) map[string]any {
		for _, table := range licenses[lic] {
			if r := path(shared, table, "rows", id); r != nil {
				return r
			}
		}
		return nil
	}
	buckets := map[string]map[string]any{"plain": {}, "appOwner": {}}
	profOnly := map[string]any{}
	for _, typ := range keys(targets) {
		for _, action := range keys(path(targets, typ)) {
			for _, ot := range keys(path(targets, typ, action)) {
				ids := list(path(targets, typ, action)[ot])
				if !slices.ContainsFunc(ids, func(id string) bool { return path(shared, "analyzer", "rows", id) != nil }) {
					set(profOnly, true, typ, action, ot)
				}
				if action == "move" {
					continue
				}
				for _, lic := range keys(licenses) {
					for _, id := range ids {
						r := row(lic, id)
						if r == nil {
							continue
						}
						bucket := "plain"
						if truthy(r["appOwner"]) {
							bucket = "appOwner"
						}
						for _, role := range keys(columns) {
							if r[role] != "Yes" {
								continue
							}
							g := map[string]any{"kind": "table", "id": id,
								"name": fmt.Sprintf("%s (%s)", r["row"], columns[role])}
							at := []string{lic, typ, action, ot, role}
							gs, _ := get(buckets[bucket], at...).([]any)
							if !slices.ContainsFunc(gs, func(x any) bool { return x.(map[string]any)["id"] == id }) {
								gs = append(gs, g)
							}
							slices.SortFunc(gs, func(a, b any) int {
								return strings.Compare(a.(map[string]any)["id"].(string), b.(map[string]any)["id"].(string))
							})
							set(buckets[bucket], gs, at...)
						}
					}
				}
			}
		}
	}
	roleIndex := func(table map[string]any, grant func(role string) map[string]any, skip string) map[string]any {
		out := map[string]any{}
		for _, role := range keys(path(table, "roles")) {
			byType := path(table, "roles", role)
			for _, typ := range keys(byType) {
				byAction, ok := byType[typ].(map[string]any)
				if !ok {
					continue // name, source
				}
				for _, action := range keys(byAction) {
					if action == skip {
						continue
					}
					for _, ot := range list(byAction[action]) {
						set(out, grant(role), role, typ, action, ot)
					}
				}
			}
		}
		return out
	}
	personal := path(tables, "personal")
	managed := path(tables, "managed")
	return map[string]any{
		"shared":           map[string]any{"plain": buckets["plain"], "appOwner": buckets["appOwner"]},
		"professionalOnly": profOnly,
		"personal": roleIndex(personal, func(role string) map[string]any {
			return map[string]any{"kind": "personal", "id": "personal." + role, "name": path(personal, "roles", role)["name"]}
		}, ""),
		"managed": roleIndex(managed, func(role string) map[string]any {
			return map[string]any{"kind": "managed", "id": "managed." + role,
				"name": fmt.Sprintf("%s in a managed space", path(managed, "roles", role)["name"])}
		}, "publish"),
	}
}

// truthy is Rego's truth of a defined value: anything but false.
func truthy(v any) bool { return v != nil && v != false }

func path(m map[string]any, ks ...string) map[string]any {
	v, _ := get(m, ks...).(map[string]any)
	return v
}

func get(m map[string]any, ks ...string) any {
	var v any = m
	for _, k := range ks {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func set(m map[string]any, v any, ks ...string) {
	for _, k := range ks[:len(ks)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[ks[len(ks)-1]] = v
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func list(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
