package scim

import (
	"net/http"

	"github.com/gofiber/fiber/v3"
)

// Discovery (RFC 7644 §4): what this service provider supports, its
// resource types and their schemas. Served to any authenticated caller.

func (h *Handlers) serviceProviderConfig(c fiber.Ctx) error {
	no := map[string]any{"supported": false}
	return send(c, map[string]any{
		"schemas":               []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri":      c.BaseURL() + "/openapi.json",
		"patch":                 map[string]any{"supported": true},
		"bulk":                  map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":                map[string]any{"supported": true, "maxResults": MaxResults},
		"changePassword":        no,
		"sort":                  no,
		"etag":                  no,
		"authenticationSchemes": []map[string]any{{"type": "oauthbearertoken", "name": "OAuth Bearer Token", "description": "An admin's OIDC access token or rulekeeper API key, as Authorization: Bearer", "primary": true}},
		"meta":                  map[string]any{"resourceType": "ServiceProviderConfig", "location": base(c) + "/ServiceProviderConfig"},
	})
}

func resourceTypes(c fiber.Ctx) []map[string]any {
	return []map[string]any{
		{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
			"id":      "User", "name": "User", "endpoint": "/Users", "description": "A user of the tenant",
			"schema": UserSchema,
			"schemaExtensions": []map[string]any{
				{"schema": EnterpriseSchema, "required": false},
				{"schema": RulekeeperSchema, "required": false},
			},
			"meta": map[string]any{"resourceType": "ResourceType", "location": base(c) + "/ResourceTypes/User"},
		},
		{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
			"id":      "Group", "name": "Group", "endpoint": "/Groups", "description": "A group of users",
			"schema": GroupSchema,
			"meta":   map[string]any{"resourceType": "ResourceType", "location": base(c) + "/ResourceTypes/Group"},
		},
	}
}

func (h *Handlers) resourceTypes(c fiber.Ctx) error {
	rts := resourceTypes(c)
	return send(c, listResponse(int64(len(rts)), 1, rts))
}

func (h *Handlers) resourceType(c fiber.Ctx) error {
	for _, rt := range resourceTypes(c) {
		if rt["id"] == c.Params("name") {
			return send(c, rt)
		}
	}
	return &Error{Status: http.StatusNotFound, Detail: "no such resource type"}
}

// attr describes one schema attribute (RFC 7643 §7).
func attr(name, typ string, multi, required bool, mutability, uniqueness string, sub ...map[string]any) map[string]any {
	a := map[string]any{"name": name, "type": typ, "multiValued": multi, "required": required, "caseExact": false,
		"mutability": mutability, "returned": "default", "uniqueness": uniqueness}
	if len(sub) > 0 {
		a["subAttributes"] = sub
	}
	return a
}

func schemas(c fiber.Ctx) []map[string]any {
	str := func(name string) map[string]any { return attr(name, "string", false, false, "readWrite", "none") }
	schema := func(id, name, desc string, attrs ...map[string]any) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}, "id": id, "name": name,
			"description": desc, "attributes": attrs, "meta": map[string]any{"resourceType": "Schema", "location": base(c) + "/Schemas/" + id}}
	}
	return []map[string]any{
		schema(UserSchema, "User", "User Account",
			attr("userName", "string", false, true, "readWrite", "server"),
			attr("externalId", "string", false, false, "readWrite", "server"),
			attr("name", "complex", false, false, "readWrite", "none", str("formatted"), str("givenName"), str("familyName")),
			str("displayName"),
			attr("active", "boolean", false, false, "readWrite", "none"),
			attr("emails", "complex", true, false, "readWrite", "none", str("value"), str("type"), attr("primary", "boolean", false, false, "readWrite", "none")),
			attr("roles", "complex", true, false, "readWrite", "none", str("value")),
			attr("groups", "complex", true, false, "readOnly", "none", str("value"), str("display"), attr("$ref", "reference", false, false, "readOnly", "none")),
		),
		schema(GroupSchema, "Group", "Group",
			attr("displayName", "string", false, true, "readWrite", "server"),
			attr("members", "complex", true, false, "readWrite", "none", str("value"), str("display"), str("type"), attr("$ref", "reference", false, false, "readOnly", "none")),
		),
		schema(EnterpriseSchema, "EnterpriseUser", "Enterprise User (kept as custom attributes of the same names)",
			str("department"), str("division"), str("organization"), str("costCenter"), str("employeeNumber"),
			attr("manager", "complex", false, false, "readWrite", "none", str("value")),
		),
		schema(RulekeeperSchema, "RulekeeperUser", "rulekeeper's custom attributes of a user (user.@name in a security rule)",
			attr("attributes", "complex", false, false, "readWrite", "none"),
		),
	}
}

func (h *Handlers) schemas(c fiber.Ctx) error {
	ss := schemas(c)
	return send(c, listResponse(int64(len(ss)), 1, ss))
}

func (h *Handlers) schema(c fiber.Ctx) error {
	for _, s := range schemas(c) {
		if s["id"] == c.Params("id") {
			return send(c, s)
		}
	}
	return &Error{Status: http.StatusNotFound, Detail: "no such schema"}
}
