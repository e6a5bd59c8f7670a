# Roles (roles.rego, roles.json): tenant admin, developer, authorization
# client, the QMC admin roles, and what every user gets.
package rulekeeper.roles_test

import data.rulekeeper.testing as h

pro := h.subject("professional", {})

tenant_admin := h.with_roles(pro, ["TenantAdmin"])

console_resources := {
	"user": ["read", "update", "change_role"],
	"group": ["create", "read", "update", "delete"],
	"license": ["create", "read", "update", "delete"],
	"settings": ["read", "update"],
	"space": ["create", "read", "update", "delete", "change_owner", "manage_members", "add_member", "change_role", "remove_member"],
	"apikey": ["read", "revoke"],
	"webintegration": ["create", "read", "update", "delete"],
	"theme": ["create", "read", "update", "delete"],
	"extension": ["create", "read", "update", "delete"],
	"event": ["read"],
	"decisionlog": ["read"],
	"rule": ["create", "read", "update", "delete"],
	"schedule": ["read", "delete"],
}

test_a_tenant_admin_administers_the_console_resources[name] if {
	some type, actions in console_resources
	some action in actions
	name := sprintf("%s %s", [action, type])
	q := h.console(tenant_admin, action, {"type": type, "id": "x-1", "owner": h.other})
	"TenantAdmin" in h.grant_ids(q)
	h.allowed(q)
}

test_a_tenant_admin_has_no_console_grant_in_the_hub[name] if {
	some type, actions in console_resources
	some action in actions
	not type in {"theme", "extension"}
	name := sprintf("%s %s", [action, type])
	h.denied(h.hub(tenant_admin, action, {"type": type, "id": "x-1", "owner": h.other}))
}

test_a_tenant_admin_does_not_open_apps_or_delete_api_keys if {
	h.denied(h.console(tenant_admin, "read", h.app("a-1", h.other, "sp-1", "shared")))
	h.denied(h.console(tenant_admin, "delete", {"type": "apikey", "id": "k-1", "owner": h.other}))
	h.denied(h.console(tenant_admin, "create", {"type": "apikey"}))
	h.denied(h.console(tenant_admin, "update", {"type": "schedule", "id": "s-1"}))
}

test_a_tenant_admin_creates_managed_spaces_in_the_hub_and_the_console if {
	r := {"type": "space", "spaceType": "managed"}
	h.decide(h.hub(tenant_admin, "create", r)).grants == [{"kind": "role", "id": "TenantAdmin", "name": "Tenant admins create managed spaces"}]
	h.allowed(h.console(tenant_admin, "create", r))
}

test_only_a_tenant_admin_changes_a_space_owner if {
	s := h.space("sp-1", "shared", h.me)
	h.denied(h.hub(h.subject("professional", {"sp-1": ["owner"]}), "change_owner", s))
	h.denied(h.console(h.subject("professional", {"sp-1": ["owner"]}), "change_owner", s))
	h.allowed(h.console(tenant_admin, "change_owner", s))
}

developer := h.with_roles(pro, ["Developer"])

test_a_developer_creates_api_keys if {
	h.decide(h.hub(developer, "create", {"type": "apikey", "owner": h.me})).grants == [{"kind": "role", "id": "Developer", "name": "Developer"}]
	h.denied(h.hub(pro, "create", {"type": "apikey", "owner": h.me}))
}

test_a_developer_manages_their_own_api_keys_only[action] if {
	some action in ["read", "update", "delete", "revoke"]
	h.allowed(h.hub(developer, action, {"type": "apikey", "id": "k-1", "owner": h.me}))
	h.denied(h.hub(developer, action, {"type": "apikey", "id": "k-2", "owner": h.other}))
}

test_an_authorization_client_asks_about_other_subjects if {
	h.allowed(h.hub(h.with_roles(pro, ["AuthzClient"]), "read", {"type": "decision", "id": h.other}))
	h.allowed(h.hub(tenant_admin, "read", {"type": "decision", "id": h.other}))
	h.denied(h.hub(pro, "read", {"type": "decision", "id": h.other}))
}

test_a_subject_asks_about_itself if {
	h.grant_ids(h.hub(pro, "read", {"type": "decision", "id": h.me})) == {"decision.self"}
}

test_a_root_admin_does_anything_in_the_console_only if {
	root := h.with_roles(pro, ["RootAdmin"])
	h.allowed(h.console(root, "delete", h.app("a-1", h.other, "sp-1", "shared")))
	h.allowed(h.console(root, "approve", {"type": "anything"}))
	h.denied(h.hub(root, "delete", h.app("a-1", h.other, "sp-1", "shared")))
}

test_a_content_admin_manages_content_in_the_console if {
	content := h.with_roles(pro, ["ContentAdmin"])
	h.allowed(h.console(content, "delete", h.app("a-1", h.other, "sp-1", "shared")))
	h.allowed(h.console(content, "read", h.app_object("sheet", h.other, false, h.other, "sp-1", "shared")))
	h.allowed(h.console(content, "update", {"type": "rule", "id": "r-1"}))
	h.denied(h.console(content, "update", {"type": "settings"}))
}

test_a_security_admin_manages_rules_and_access_but_not_content if {
	security := h.with_roles(pro, ["SecurityAdmin"])
	h.allowed(h.console(security, "create", {"type": "rule"}))
	h.allowed(h.console(security, "revoke", {"type": "apikey", "id": "k-1", "owner": h.other}))
	h.denied(h.console(security, "change_role", {"type": "user", "id": h.other}))
	h.denied(h.console(security, "read", h.app("a-1", h.other, "sp-1", "shared")))
}

test_an_audit_admin_reads_everything_in_the_console_and_changes_nothing if {
	audit := h.with_roles(pro, ["AuditAdmin"])
	h.allowed(h.console(audit, "read", h.app("a-1", h.other, "sp-1", "shared")))
	h.allowed(h.console(audit, "read", {"type": "event"}))
	h.denied(h.console(audit, "update", {"type": "settings"}))
	h.denied(h.hub(audit, "read", h.app("a-1", h.other, "sp-1", "shared")))
}

test_a_hub_admin_administers_hub_content_in_the_hub if {
	hub_admin := h.with_roles(pro, ["HubAdmin"])
	h.allowed(h.hub(hub_admin, "delete", h.app("a-1", h.other, "sp-1", "shared")))
	h.allowed(h.hub(hub_admin, "read", {"type": "space", "id": "m-1", "spaceType": "managed"}))
	h.denied(h.console(hub_admin, "delete", h.app("a-1", h.other, "sp-1", "shared")))
}

test_only_tenant_admins_read_the_decision_log if {
	h.allowed(h.console(tenant_admin, "read", {"type": "decisionlog"}))
	h.denied(h.console(pro, "read", {"type": "decisionlog"}))
	h.denied(h.console(h.with_roles(pro, ["Developer"]), "read", {"type": "decisionlog"}))
	h.denied(h.console(h.with_roles(pro, ["SecurityAdmin"]), "read", {"type": "decisionlog"}))
	h.denied(h.console(h.with_roles(pro, ["AuthzClient"]), "read", {"type": "decisionlog"}))
	h.denied(h.hub(tenant_admin, "read", {"type": "decisionlog"}))
}

test_an_unknown_role_grants_nothing if {
	h.denied(h.console(h.with_roles(pro, ["Janitor"]), "read", {"type": "event"}))
}

test_everyone_reads_extensions_and_themes if {
	h.grant_ids(h.hub(pro, "read", {"type": "extension", "id": "e-1"})) == {"everyone.read_extensions"}
	h.grant_ids(h.hub(h.subject("analyzer", {}), "read", {"type": "theme", "id": "t-1"})) == {"everyone.read_themes"}
	h.denied(h.hub(pro, "update", {"type": "theme", "id": "t-1"}))
}

test_users_read_themselves_and_not_others if {
	h.decide(h.console(pro, "read", {"type": "user", "id": h.me, "owner": h.me})).grants == [{"kind": "owner", "id": "user.self", "name": "Users read themselves"}]
	h.denied(h.hub(pro, "read", {"type": "user", "id": h.other, "owner": h.other}))
	h.denied(h.hub(pro, "update", {"type": "user", "id": h.me, "owner": h.me}))
}

test_an_empty_subject_id_owns_nothing if {
	s := object.union(developer, {"id": ""})
	h.denied(h.hub(s, "read", {"type": "apikey", "id": "k-1", "owner": ""}))
	h.denied(h.hub(s, "read", {"type": "user", "id": "", "owner": ""}))
}

# The role rule asks for a first role so that OPA's rule index leaves it out
# for subjects without roles: any role of the list grants, not only the
# first, and no roles (empty or absent) grant nothing.
test_every_role_of_the_list_grants if {
	"TenantAdmin" in h.grant_ids(h.console(h.with_roles(pro, ["Nobody", "TenantAdmin"]), "read", {"type": "user", "id": h.other}))
	h.grant_kinds(h.console(pro, "read", {"type": "user", "id": h.other})) == set()
	no_roles := object.remove(pro, ["roles"])
	h.grant_kinds(h.console(no_roles, "read", {"type": "user", "id": h.other})) == set()
}
