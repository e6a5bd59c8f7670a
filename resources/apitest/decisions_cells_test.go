package apitest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

// sharedTables is the §6.7 data the policy reads (policies_test checks it
// against a literal copy of the seed).
type sharedTables struct {
	Rulekeeper struct {
		Tables struct {
			Shared struct {
				Professional struct{ Rows map[string]map[string]any }  `json:"professional"`
				Analyzer     struct{ Rows map[string]map[string]any }  `json:"analyzer"`
				Targets      map[string]map[string]map[string][]string `json:"targets"`
			} `json:"shared"`
		} `json:"tables"`
	} `json:"rulekeeper"`
}

// TestEveryCellOfTheSharedSpaceTables asks POST /access/v1/evaluation and
// POST /authz/check, over HTTP, for every cell of both §6.7 tables whose
// request one row decides (moves need two spaces and are covered by the
// Rego tests): each answer must be the cell's, and an allow must name the row.
func TestEveryCellOfTheSharedSpaceTables(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../policies/shared_spaces.json")
	if err != nil {
		t.Fatal(err)
	}
	var tables sharedTables
	if err := json.Unmarshal(raw, &tables); err != nil {
		t.Fatal(err)
	}
	sh := tables.Rulekeeper.Tables.Shared
	d := servicetest.Dev(t)
	cells := 0
	for _, typ := range []string{"app", "space"} {
		for action, byObject := range sh.Targets[typ] {
			rowIDs := byObject["*"]
			if len(rowIDs) != 1 || action == "move" {
				continue
			}
			id := rowIDs[0]
			for _, license := range []string{"professional", "analyzer"} {
				row, inTable := sh.Analyzer.Rows[id]
				if license == "professional" {
					if prow, ok := sh.Professional.Rows[id]; ok {
						row, inTable = prow, true
					}
				}
				for _, role := range []string{"owner", "admin", "canedit", "canview"} {
					for _, ownsApp := range []bool{true, false} {
						appOwnerOnly, _ := row["appOwner"].(bool)
						want := inTable && row[role] == "Yes" && (!appOwnerOnly || ownsApp || typ != "app")
						name := fmt.Sprintf("%s/%s/%s/owns=%v", id, license, role, ownsApp)
						cells++
						checkCell(t, d, name, typ, action, license, role, ownsApp, want, id)
					}
				}
			}
		}
	}
	if cells < 200 {
		t.Fatalf("only %d cells asked", cells)
	}
	t.Logf("%d cells asked over HTTP", cells)
}

func checkCell(t *testing.T, d *servicetest.Tenant, name, typ, action, license, role string, ownsApp, want bool, rowID string) {
	t.Helper()
	subject := map[string]any{
		"name": "cell", "status": "active", "license": map[string]any{"type": license},
		"spaces": map[string]any{"sp-cell": []string{role}},
	}
	owner := "someone-else"
	if ownsApp {
		owner = "cell-subject"
	}
	resource := map[string]any{"spaceId": "sp-cell", "spaceType": "shared", "owner": owner,
		"space": map[string]any{"id": "sp-cell", "type": "shared", "owner": "space-owner"}}
	var z struct {
		Decision bool           `json:"decision"`
		Context  map[string]any `json:"context"`
	}
	s := d.Call("admin", "POST", "/access/v1/evaluation", map[string]any{
		"subject":  map[string]any{"type": "user", "id": "cell-subject", "properties": subject},
		"action":   map[string]any{"name": action},
		"resource": map[string]any{"type": typ, "id": "cell-resource", "properties": resource},
	}, &z)
	if s != 200 || z.Decision != want {
		t.Errorf("%s: AuthZEN %d decision %v, want %v (%v)", name, s, z.Decision, want, z.Context["reason"])
		return
	}
	subject["id"] = "cell-subject"
	resource["type"] = typ
	var c struct {
		Allow  bool `json:"allow"`
		Grants []struct{ Kind, ID string }
	}
	if s := d.Call("admin", "POST", "/authz/check", map[string]any{"subject": subject, "action": action, "resource": resource}, &c); s != 200 || c.Allow != want {
		t.Errorf("%s: check %d allow %v, want %v", name, s, c.Allow, want)
		return
	}
	if !want {
		return
	}
	for _, g := range c.Grants {
		if g.Kind == "table" && g.ID == rowID {
			return
		}
	}
	t.Errorf("%s: the allow names %+v, not row %s", name, c.Grants, rowID)
}
