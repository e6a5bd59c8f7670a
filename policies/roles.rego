# Roles (package rulekeeper.builtin): tenant admin (seed 000 §1: only users
# with the Tenant Admin role use the management console), developer (§1.8,
# §9.4: API keys), the authorization client of API.md, and the QMC admin
# roles of seed 004 (RootAdmin, ContentAdmin, SecurityAdmin, AuditAdmin,
# HubAdmin). Their grants are listed in roles.json
# (data.rulekeeper.tables.roles): per role, grants[env][type] = actions and
# own[env][type] = actions on resources the subject owns, where env is
# "console", "hub" or "any", type "*" is any resource type and action "*"
# any action.
#
# Every user with hub access reads extensions and themes (seed 004: "everyone
# [can] view extensions and widgets from the hub").
package rulekeeper.builtin

role_grant(role) := {"kind": "role", "id": role, "name": roles_table[role].name}

# One rule for both tables of a role (role_applies). The first line asks
# for a first role, so that OPA's rule index leaves the rule out of the
# decisions of a subject without roles (most subjects).
grants contains role_grant(role) if {
	_ = input.subject.roles[0]
	some role in input.subject.roles
	role_applies(role)
}

# grants[env][type] lists the actions a role allows on resources of type
# ("*": any type; ["*"]: any action) in environment env ("any": both).
role_applies(role) if {
	some env in role_environments
	role_allows(roles_table[role].grants[env])
}

# own[env][type]: the same, for resources the subject owns.
role_applies(role) if {
	some env in role_environments
	role_allows(roles_table[role].own[env])
	input.resource.owner == subject_id
}

role_environments := [environment, "any"]

role_types := [input.resource.type, "*"]

role_actions := {input.action, "*"}

role_allows(by_type) if {
	some t in role_types
	some action in by_type[t]
	action in role_actions
}

# "Managed spaces can only be created by tenant administrators" (seed §1.3,
# §6.8), in the console or in the hub. The role is asked through
# tenant_admin rather than in the body: a membership test on
# input.subject.roles there would put a level into the rule index of grants
# that every decision walks, for this one rule.
grants contains {
	"kind": "role",
	"id": "TenantAdmin",
	"name": "Tenant admins create managed spaces",
} if {
	input.resource.type == "space"
	input.action == "create"
	space_type == "managed"
	tenant_admin
}

tenant_admin if "TenantAdmin" in input.subject.roles

grants contains {
	"kind": "everyone",
	"id": "everyone.read_extensions",
	"name": "Everyone reads extensions",
} if {
	input.resource.type == "extension"
	input.action == "read"
}

grants contains {
	"kind": "everyone",
	"id": "everyone.read_themes",
	"name": "Everyone reads themes",
} if {
	input.resource.type == "theme"
	input.action == "read"
}
