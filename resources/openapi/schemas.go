package openapi

// obj is a closed object schema: properties, the required ones.
func obj(props map[string]any, required ...string) map[string]any {
	m := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }

func enum(desc string, values ...any) map[string]any {
	return map[string]any{"enum": values, "description": desc}
}

var (
	boolean    = map[string]any{"type": "boolean"}
	integer    = map[string]any{"type": "integer"}
	stringList = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
	anyObj     = map[string]any{"type": "object"}
)

// schemas are the components' schemas (RuleFile is added from package
// rulefile).
func schemas() map[string]any {
	ruleProps := map[string]any{
		"name":           str("what the rule is for"),
		"description":    str(""),
		"resourceFilter": str("comma-separated Type_*, Type_<id>, Prefix*, *"),
		"condition":      str("the QMC condition language; empty: always"),
		"actions":        stringList,
		"context":        enum("where the rule applies (default both)", "hub", "console", "both", ""),
		"disabled":       boolean,
		"type":           enum("rules created through the API are custom", "custom", ""),
	}
	typeProps := map[string]any{
		"name":        str("lower-case letters, digits and -; not a built-in type; rules name it Name_* (case-insensitive)"),
		"description": str(""),
		"actions": map[string]any{"type": "array", "minItems": 1, "items": obj(map[string]any{
			"name": str("lower case, e.g. view"), "description": str("")}, "name")},
		"attributes": map[string]any{"type": "array", "items": obj(map[string]any{
			"name": str("read as resource.<name> and resource.@<name>"), "kind": enum("default string", "string", "number", "bool", "list", ""),
			"description": str("")}, "name")},
		"licenseGates": map[string]any{"type": "boolean", "description": "the platform's license gates apply to this type (default false)"},
	}
	resourceProps := map[string]any{
		"name": str(""), "owner": str("the owner's user id (resource.owner)"), "ownerId": str("alias of owner"),
		"spaceId":    str("a space it belongs to"),
		"attributes": map[string]any{"type": "object", "description": "the type's declared attributes: JSON scalars or lists of them"},
	}
	scope := map[string]any{
		"users":          map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "user ids (default: everybody)"},
		"groups":         map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "group ids or names"},
		"resourceType":   str("one stored resource type, e.g. app, space, theme"),
		"resourceFilter": str("a rule resource filter narrowing the resources"),
		"actions":        stringList,
		"environment":    enum("hub or console (default: both for preview and impact, hub for audit)", "hub", "console", ""),
	}
	withScope := func(extra map[string]any, required ...string) map[string]any {
		props := map[string]any{}
		for k, v := range scope {
			props[k] = v
		}
		for k, v := range extra {
			props[k] = v
		}
		return obj(props, required...)
	}
	zEntity := func(kind string) map[string]any {
		return map[string]any{"type": "object", "properties": map[string]any{
			"type": str(kind + " type"), "id": str(kind + " id"), "properties": anyObj}}
	}
	zAction := map[string]any{"type": "object", "properties": map[string]any{"name": str("action name"), "properties": anyObj}, "required": []any{"name"}}
	zContext := map[string]any{"type": "object", "properties": map[string]any{"environment": enum("", "hub", "console")}}
	userProvision := obj(map[string]any{"externalId": str("the IdP subject (sub): the first login with it binds to this user"),
		"userName": str("unique"), "name": str(""), "email": str("without externalId, the first login with this email (naming no other user) binds"),
		"groups":     map[string]any{"type": "array", "items": str("group name; missing groups are created")},
		"attributes": map[string]any{"type": "object", "additionalProperties": stringList, "description": "custom attributes (user.@name in rules)"},
		"aliases":    stringList, "license": enum("", "professional", "analyzer", ""), "active": boolean})
	zEval := map[string]any{"type": "object", "properties": map[string]any{
		"subject": zEntity("subject"), "action": zAction, "resource": zEntity("resource"), "context": zContext}}
	return map[string]any{
		"Error": obj(map[string]any{
			"code":    str("machine-readable, e.g. invalid_rule, forbidden, not_found"),
			"message": str("for people"),
			"details": map[string]any{"type": "object", "description": "where: field, line, column, …"},
		}, "code", "message"),
		"List": map[string]any{"type": "object", "required": []any{"items", "next"}, "properties": map[string]any{
			"items": map[string]any{"type": "array", "description": "never null"},
			"next":  str("cursor of the next page (?cursor=); \"\" on the last page"),
		}},
		"Decision": obj(map[string]any{
			"allow": boolean,
			"grants": map[string]any{"type": "array", "items": obj(map[string]any{
				"kind": enum("what granted", "table", "role", "owner", "personal", "managed", "rule"), "id": str(""), "name": str("")}, "kind", "id")},
			"denies":   map[string]any{"type": "array", "items": obj(map[string]any{"kind": str("gate"), "reason": str("")}, "kind", "reason")},
			"revision": integer,
		}, "allow", "grants", "denies"),
		"CheckRequest": obj(map[string]any{
			"subject": map[string]any{"type": "object", "description": "an id to hydrate, or a full subject", "properties": map[string]any{"id": str("user id")}},
			"action":  str("e.g. read, update, delete"),
			"resource": map[string]any{"type": "object", "required": []any{"type"}, "properties": map[string]any{"type": str("e.g. app, space, or an external type"), "id": str(""),
				"properties": map[string]any{"type": "object", "description": "inline attributes (JSON scalars or lists; ownerID names the owner); they win over the stored resource's"}}},
			"context": obj(map[string]any{"environment": enum("", "hub", "console")}),
		}, "subject", "action", "resource"),
		"AuthZENEvaluation": zEval,
		"AuthZENEvaluations": map[string]any{"type": "object", "properties": map[string]any{
			"subject": zEntity("subject"), "action": zAction, "resource": zEntity("resource"), "context": zContext,
			"evaluations": map[string]any{"type": "array", "items": zEval},
			"options": map[string]any{"type": "object", "properties": map[string]any{
				"evaluations_semantic": enum("", "execute_all", "deny_on_first_deny", "permit_on_first_permit")}},
		}},
		"AuthZENSearch": map[string]any{"type": "object", "properties": map[string]any{
			"subject": zEntity("subject"), "action": map[string]any{"type": "object", "properties": map[string]any{"name": str("")}},
			"resource": zEntity("resource"), "context": zContext,
			"page": map[string]any{"type": "object", "properties": map[string]any{"token": str(""), "limit": integer}},
		}},
		"DevTokenRequest": obj(map[string]any{"user": str("demo user name"), "groups": stringList, "email": str("")}, "user"),
		"UserPatch": obj(map[string]any{"status": enum("", "active", "disabled"), "roles": stringList,
			"externalId": str("the IdP subject (sub); fixed once the user has logged in"), "userName": str(""), "name": str(""), "email": str(""),
			"groups": stringList, "aliases": stringList, "license": enum("", "professional", "analyzer", ""),
			"attributes": map[string]any{"type": "object", "description": "merged: each named attribute is replaced (a list of strings), null removes it",
				"additionalProperties": map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "string"}}}}),
		"UserProvision": userProvision,
		"UserImport": obj(map[string]any{"users": map[string]any{"type": "array", "items": userProvision, "maxItems": 1000,
			"description": "each is created, or updated when a user has its externalId or userName"}}, "users"),
		"SCIMUser": map[string]any{"type": "object", "description": "RFC 7643 §4.1 User (with the enterprise extension and urn:rulekeeper:params:scim:schemas:extension:2.0:User {attributes})",
			"required": []any{"userName"}, "additionalProperties": false, "properties": map[string]any{"schemas": stringList, "userName": str(""), "externalId": str("the IdP subject (sub)"),
				"displayName": str(""), "name": anyObj, "active": boolean, "emails": map[string]any{"type": "array"}, "roles": map[string]any{"type": "array"},
				"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": anyObj, "urn:rulekeeper:params:scim:schemas:extension:2.0:User": anyObj}},
		"SCIMGroup": map[string]any{"type": "object", "description": "RFC 7643 §4.2 Group", "required": []any{"displayName"}, "additionalProperties": false,
			"properties": map[string]any{"schemas": stringList, "displayName": str(""), "members": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{"value": str("user id")}}}}},
		"SCIMPatchOp": map[string]any{"type": "object", "description": "RFC 7644 §3.5.2 PatchOp", "required": []any{"schemas", "Operations"}, "additionalProperties": false,
			"properties": map[string]any{"schemas": stringList, "Operations": map[string]any{"type": "array", "items": map[string]any{"type": "object",
				"required": []any{"op"}, "properties": map[string]any{"op": str("add, replace or remove (any case)"), "path": str(""), "value": map[string]any{}}}}}},
		"NameBody":          obj(map[string]any{"name": str("")}, "name"),
		"DescriptionBody":   obj(map[string]any{"description": str("")}),
		"APIKeyCreate":      obj(map[string]any{"description": str(""), "expiry": str("a duration (720h) or an RFC 3339 time; capped by the tenant setting")}),
		"LicenseKey":        obj(map[string]any{"key": str("the signed key as `rulekeeper license sign` prints it")}, "key"),
		"LicenseAssignment": obj(map[string]any{"userId": str(""), "type": enum("", "professional", "analyzer")}, "userId", "type"),
		"SpaceCreate":       obj(map[string]any{"name": str("unique regardless of case"), "type": enum("", "shared", "managed"), "description": str("")}, "name", "type"),
		"SpacePatch":        obj(map[string]any{"name": str(""), "description": str("")}),
		"UserRef":           obj(map[string]any{"userId": str("")}, "userId"),
		"MemberAdd": obj(map[string]any{"type": enum("", "user", "group"), "id": str("user or group id"),
			"roles": map[string]any{"type": "array", "items": str("a space role of the space's type, e.g. canview, canedit, canconsume (shared) or consumer, contributor, publisher (managed)")}}, "type", "id", "roles"),
		"Roles":        obj(map[string]any{"roles": stringList}, "roles"),
		"AppCreate":    obj(map[string]any{"name": str(""), "spaceId": str("\"\" or absent: the caller's personal space"), "description": str(""), "tags": stringList}, "name"),
		"AppPatch":     obj(map[string]any{"name": str(""), "description": str(""), "tags": stringList}),
		"AppMove":      obj(map[string]any{"spaceId": str("\"\": the owner's personal space")}, "spaceId"),
		"AppDuplicate": obj(map[string]any{"name": str("default: the app's name with (copy)")}),
		"AppExport":    obj(map[string]any{"data": map[string]any{"type": "boolean", "description": "with data (export_data)"}}),
		"ObjectCreate": obj(map[string]any{"type": str("sheet, story, bookmark, snapshot, masteritem, variable, media"), "name": str("")}, "type", "name"),
		"ObjectPatch":  obj(map[string]any{"name": str(""), "public": boolean}),
		"ScheduleCreate": obj(map[string]any{"appId": str(""), "interval": str("e.g. hourly, daily, weekly, monthly, yearly"),
			"start": str("local date-time of the first run"), "timezone": str("IANA zone, default UTC"), "enabled": boolean}, "appId", "interval"),
		"SchedulePatch": obj(map[string]any{"interval": str(""), "start": str(""), "timezone": str(""), "enabled": boolean, "version": integer}),
		"SettingsPatch": obj(map[string]any{"onDemandApps": boolean, "autoCreateGroups": boolean, "dynamicProfessional": boolean,
			"dynamicAnalyzer": boolean, "apiKeysEnabled": boolean, "apiKeyMaxExpiryDays": integer, "apiKeyMaxPerUser": integer,
			"eventRetentionDays": integer, "version": integer}),
		"WebIntegrationCreate": obj(map[string]any{"name": str(""), "origins": stringList}, "name", "origins"),
		"WebIntegrationPatch":  obj(map[string]any{"name": str(""), "origins": stringList, "version": integer}),
		"Tags":                 obj(map[string]any{"tags": stringList}, "tags"),
		"BundleUpload": map[string]any{"type": "object", "properties": map[string]any{
			"file": map[string]any{"type": "string", "contentMediaType": "application/zip"}, "tags": str("comma-separated")}, "required": []any{"file"}},
		"RuleInput": obj(ruleProps, "name", "resourceFilter", "actions"),
		"Rule": map[string]any{"type": "object", "properties": map[string]any{
			"id": str(""), "name": str(""), "description": str(""), "resourceFilter": str(""), "condition": str(""),
			"actions": stringList, "context": str(""), "disabled": boolean, "type": enum("", "custom", "default", "readonly"),
			"version": integer, "createdAt": str("RFC 3339"), "updatedAt": str("RFC 3339"), "updatedBy": str("user id"),
		}},
		"ImportResult": map[string]any{"type": "object", "properties": map[string]any{
			"dryRun": boolean, "mode": enum("", "upsert", "replace"),
			"created": integer, "updated": integer, "deleted": integer, "unchanged": integer,
			"changes": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
				"op": enum("", "create", "update", "delete"), "id": str(""), "name": str(""), "fields": stringList}}},
			"impact":   map[string]any{"type": "object", "description": "dry runs: gained and lost access, as POST /rules/impact answers"},
			"revision": integer,
		}},
		"PreviewRequest": withScope(map[string]any{"rule": obj(ruleProps, "resourceFilter", "actions")}, "rule"),
		"ImpactRequest": withScope(map[string]any{"changes": map[string]any{"type": "array", "minItems": 1, "items": obj(map[string]any{
			"op":   enum("", "add", "update", "delete", "disable", "enable"),
			"id":   str("the rule changed (add: optional)"),
			"rule": obj(ruleProps, "resourceFilter", "actions"),
		}, "op")}}, "changes"),
		"AuditRequest":      withScope(nil, "actions"),
		"ResourceTypeInput": obj(typeProps, "name", "actions"),
		"ResourceType": map[string]any{"type": "object", "properties": withProps(typeProps, map[string]any{
			"builtin": boolean, "version": integer, "updatedBy": str("user id")})},
		"ExternalResourceInput": obj(resourceProps),
		"ExternalResourceBatch": obj(map[string]any{"items": map[string]any{"type": "array", "maxItems": 1000,
			"items": obj(withProps(resourceProps, map[string]any{"id": str("the resource's id in its service")}), "id")}}, "items"),
		"ExternalResource": map[string]any{"type": "object", "properties": withProps(resourceProps, map[string]any{
			"type": str(""), "id": str(""), "version": integer, "updatedAt": str("RFC 3339"), "updatedBy": str("user id")})},
	}
}

// withProps is props with more properties.
func withProps(props, more map[string]any) map[string]any {
	out := make(map[string]any, len(props)+len(more))
	for k, v := range props {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}
