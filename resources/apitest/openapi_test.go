package apitest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rulekeeper/rulekeeper/resources/openapi"
	"github.com/rulekeeper/rulekeeper/resources/servicetest"
)

type document struct {
	OpenAPI string                               `json:"openapi"`
	Paths   map[string]map[string]map[string]any `json:"paths"`
}

var (
	fiberParam = regexp.MustCompile(`:[A-Za-z0-9_]+`)
	docParam   = regexp.MustCompile(`\{[^}]+\}`)
)

// ignored are methods Fiber registers by itself (HEAD beside GET) or for
// catch-all routes.
var ignored = map[string]bool{"HEAD": true, "OPTIONS": true, "CONNECT": true, "TRACE": true}

// The document and the server agree: every registered route is documented
// and every documented route is registered; the served document is the
// package's.
func TestEveryRouteIsDocumented(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	res, err := http.Get(d.URL() + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil || res.StatusCode != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("GET /openapi.json: %d %v", res.StatusCode, err)
	}
	// The console links to it.
	res, err = http.Get(d.URL() + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), `href="/openapi.json"`) {
		t.Fatalf("the console does not link /openapi.json: %d", res.StatusCode)
	}
	documented := map[string]bool{} // "METHOD path" with {} for parameters
	for path, item := range doc.Paths {
		for method := range item {
			documented[strings.ToUpper(method)+" "+docParam.ReplaceAllString(path, "{}")] = true
		}
	}
	// A wildcard route (/console/*) is documented by paths under its prefix.
	covered := func(method, path string) bool {
		if documented[method+" "+path] {
			return true
		}
		if prefix, ok := strings.CutSuffix(path, "*"); ok {
			for k := range documented {
				if strings.HasPrefix(k, method+" "+prefix) {
					return true
				}
			}
		}
		return false
	}
	registered := map[string]bool{}
	byPath := map[string][]string{}
	for _, r := range d.Svc.Routes() {
		if !ignored[r[0]] {
			// An escaped colon is a literal one (POST /resources/:type\:batch).
			path := strings.ReplaceAll(fiberParam.ReplaceAllString(strings.ReplaceAll(r[1], `\:`, "\x00"), "{}"), "\x00", ":")
			byPath[path] = append(byPath[path], r[0])
		}
	}
	var missing []string
	for path, methods := range byPath {
		all := len(methods) >= 5 // registered with All: one documented method is enough
		any := false
		for _, m := range methods {
			registered[m+" "+path] = true
			if covered(m, path) {
				any = true
			} else if !all {
				missing = append(missing, m+" "+path)
			}
		}
		if all && !any {
			missing = append(missing, "ALL "+path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("registered but not in /openapi.json (add them to resources/openapi/ops.go):\n  %s", strings.Join(missing, "\n  "))
	}
	var stale []string
	for k := range documented {
		if registered[k] {
			continue
		}
		method, path, _ := strings.Cut(k, " ")
		found := false
		for r := range registered {
			rm, rp, _ := strings.Cut(r, " ")
			if prefix, ok := strings.CutSuffix(rp, "*"); ok && strings.HasPrefix(path, prefix) && (rm == method || len(byPath[rp]) >= 5) {
				found = true
			}
		}
		if !found {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("in /openapi.json but not registered:\n  %s", strings.Join(stale, "\n  "))
	}
}

// Every example request is valid against its schema, and every JSON body
// has an example.
func TestExamplesMatchTheirSchemas(t *testing.T) {
	t.Parallel()
	raw := openapi.Document("test")
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	loaded, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("openapi.json", loaded); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for path, item := range doc["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			rb, ok := o.(map[string]any)["requestBody"].(map[string]any)
			if !ok {
				continue
			}
			for media, content := range rb["content"].(map[string]any) {
				ex, has := content.(map[string]any)["example"]
				if !has {
					if media == "application/json" {
						t.Errorf("%s %s: no example", method, path)
					}
					continue
				}
				ptr := "openapi.json#/paths/" + escape(path) + "/" + method + "/requestBody/content/" + escape(media) + "/schema"
				sch, err := c.Compile(ptr)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				exRaw, _ := json.Marshal(ex)
				v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(exRaw))
				if err := sch.Validate(v); err != nil {
					t.Errorf("%s %s: the example is not valid: %v", method, path, err)
				}
				// A broken example must fail: the schemas are not vacuous.
				if m, ok := v.(map[string]any); ok && path != "/api/v1/rules/import" {
					m["noSuchField"] = 1
					if sch.Validate(m) == nil && !strings.HasPrefix(path, "/access/") {
						t.Errorf("%s %s: the schema accepts an unknown field", method, path)
					}
				}
				checked++
			}
		}
	}
	if checked < 35 {
		t.Fatalf("only %d examples checked", checked)
	}
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// The examples are not only valid on paper: the server takes them.
func TestTheServerTakesTheRuleExamples(t *testing.T) {
	t.Parallel()
	d := servicetest.Dev(t)
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct{ Example any } `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document("test"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/rules/validate", "/api/v1/rules/preview", "/api/v1/rules/impact"} {
		ex := doc.Paths[path]["post"].RequestBody.Content["application/json"].Example
		if m, ok := ex.(map[string]any); ok {
			delete(m, "users") // the example's ids are not the demo tenant's
		}
		if s := d.Call("admin", "POST", path, ex, nil); s != 200 {
			t.Fatalf("POST %s with its example: %d", path, s)
		}
	}
}

// Every schema of the document compiles (no dangling $ref), and operation
// ids are unique.
func TestDocumentIsWellFormed(t *testing.T) {
	t.Parallel()
	raw := openapi.Document("test")
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Summary     string `json:"summary"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	loaded, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("openapi.json", loaded); err != nil {
		t.Fatal(err)
	}
	for name := range doc.Components.Schemas {
		if _, err := c.Compile("openapi.json#/components/schemas/" + escape(name)); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, o := range item {
			if o.OperationID == "" || o.Summary == "" {
				t.Errorf("%s %s: operationId and summary are required", method, path)
			}
			if other, dup := ids[o.OperationID]; dup {
				t.Errorf("operationId %s: %s %s and %s", o.OperationID, method, path, other)
			}
			ids[o.OperationID] = method + " " + path
		}
	}
}
