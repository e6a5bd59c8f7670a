// Package openapi describes rulekeeper's whole HTTP API as an OpenAPI 3.1
// document, served at /openapi.json. The document is built from one table
// of operations (ops.go) and a set of schemas (schemas.go); a test keeps the
// table and the routes the server registers equal, and checks every
// example request against its schema.
package openapi

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/rulekeeper/rulekeeper/resources/rulefile"
)

// op is one operation of the API.
type op struct {
	method, path string // path in OpenAPI form: /api/v1/apps/{id}
	tag          string
	summary      string
	public       bool     // no credentials needed
	query        []string // names of query parameters (see params)
	body         string   // schema name of a JSON body ("" for none)
	bodyType     string   // media type of the body when not JSON
	plainBody    string   // when set, the body may also be text/plain: what that text is
	example      any      // an example body, checked against the schema
	response     string   // schema name of the 2xx answer ("" for a generic object)
	status       string   // success status, default "200"
	description  string
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// Document returns the OpenAPI document for a server of the given version.
func Document(version string) []byte {
	paths := map[string]map[string]any{}
	for _, o := range operations() {
		item := paths[o.path]
		if item == nil {
			item = map[string]any{}
			paths[o.path] = item
		}
		item[strings.ToLower(o.method)] = o.operation()
	}
	schemas := schemas()
	var rf any
	_ = json.Unmarshal(rulefile.Schema(), &rf)
	schemas["RuleFile"] = rf
	doc := map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"info": map[string]any{
			"title":   "rulekeeper",
			"version": version,
			"description": "Authorization for an analytics platform: decisions (POST /authz/check, AuthZEN 1.0), " +
				"the REST API of spaces, apps, users, licenses and QMC-style security rules, and the rule tools " +
				"(validate, preview, impact, audit, import, export). Every error is {code, message, details}.",
		},
		"servers": []any{map[string]any{"url": "/"}},
		"tags":    tags(),
		"paths":   paths,
		"security": []any{
			map[string]any{"bearer": []any{}},
		},
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer",
					"description": "An OIDC token (ID or JWT access token) of the configured issuer, or an API key (rk_…)."},
			},
			"parameters": params(),
			"responses": map[string]any{
				"Error": map[string]any{"description": "An error: what and where (details.field).",
					"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}},
			},
		},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // the document is static data
	}
	return out
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func (o op) operation() map[string]any {
	id := operationID(o.method, o.path)
	m := map[string]any{"operationId": id, "summary": o.summary, "tags": []string{o.tag}}
	if o.description != "" {
		m["description"] = o.description
	}
	if o.public {
		m["security"] = []any{}
	}
	var ps []any
	for _, name := range pathParam.FindAllStringSubmatch(o.path, -1) {
		ps = append(ps, map[string]any{"name": name[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range o.query {
		ps = append(ps, map[string]any{"$ref": "#/components/parameters/" + q})
	}
	if ps != nil {
		m["parameters"] = ps
	}
	if o.body != "" {
		media := o.bodyType
		if media == "" {
			media = "application/json"
		}
		content := map[string]any{"schema": ref(o.body)}
		if o.example != nil {
			content["example"] = o.example
		}
		contents := map[string]any{media: content}
		if o.plainBody != "" {
			contents["text/plain"] = map[string]any{"schema": map[string]any{"type": "string", "description": o.plainBody}}
		}
		m["requestBody"] = map[string]any{"required": true, "content": contents}
	}
	status := o.status
	if status == "" {
		status = "200"
	}
	ok := map[string]any{"description": "success"}
	if status != "204" {
		schema := map[string]any{"type": "object"}
		if o.response != "" {
			schema = ref(o.response)
		}
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": schema}}
	}
	m["responses"] = map[string]any{status: ok, "default": map[string]any{"$ref": "#/components/responses/Error"}}
	return m
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(strings.TrimPrefix(path, "/api/v1"), "/") {
		seg = strings.Trim(seg, "{}.")
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func tags() []any {
	names := map[string]string{}
	for _, o := range operations() {
		names[o.tag] = ""
	}
	var out []string
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	list := make([]any, 0, len(out))
	for _, n := range out {
		list = append(list, map[string]any{"name": n})
	}
	return list
}

func params() map[string]any {
	q := func(name, typ, desc string) map[string]any {
		return map[string]any{"name": name, "in": "query", "required": false, "description": desc, "schema": map[string]any{"type": typ}}
	}
	return map[string]any{
		"limit":            q("limit", "integer", "items per page (1–1000, default 50)"),
		"cursor":           q("cursor", "string", "the `next` of the previous page; the last page answers next \"\""),
		"q":                q("q", "string", "case-insensitive text search in names"),
		"spaceId":          q("spaceId", "string", "only apps of this space"),
		"ownerId":          q("ownerId", "string", "only apps owned by this user"),
		"type":             q("type", "string", "only spaces of this type: personal, shared or managed"),
		"status":           q("status", "string", "only users with this status: active, disabled"),
		"role":             q("role", "string", "only users with this role"),
		"mode":             q("mode", "string", "upsert (default) or replace"),
		"dryRun":           q("dryRun", "boolean", "answer the changes and their impact; write nothing"),
		"source":           q("source", "string", "only events of this source"),
		"eventType":        q("type", "string", "only events of this type"),
		"userId":           q("userId", "string", "only events of this user"),
		"since":            q("since", "string", "RFC 3339 time, inclusive"),
		"until":            q("until", "string", "RFC 3339 time, exclusive"),
		"sort":             q("sort", "string", "time or -time (default)"),
		"appId":            q("appId", "string", "only schedules of this app"),
		"order":            q("order", "string", "asc or desc"),
		"offset":           q("offset", "integer", "rules searches: how many matches to skip"),
		"ruleSort":         q("sort", "string", "name, resourceFilter, context, type, disabled or updatedAt"),
		"tag":              q("tag", "string", "only bundles with this tag"),
		"decisionSubject":  q("subject", "string", "only decisions about this subject (user id)"),
		"decisionResource": q("resource", "string", "only decisions about this resource: type:id, type:* or an id of any type"),
		"builtin":          q("builtin", "boolean", "false: only the external types"),
		"action":           q("action", "string", "only the resources the subject may do this action on (planned, filtered in the database)"),
		"subject":          q("subject", "string", "with action: whose access (default the caller; others need TenantAdmin or AuthzClient)"),
		"environment":      q("environment", "string", "with action: hub (default) or console"),
	}
}
