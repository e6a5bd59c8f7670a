# Personal spaces: seed 000 §1.3 and §6.8 "In personal spaces, only the owner
# can edit apps, that is, you cannot co-develop in personal spaces. You can
# share apps outside your space, but only for viewing."
#
# What the app owner and a viewer may do is listed in personal_spaces.json
# (data.rulekeeper.tables.personal). Viewers are the users and groups in the
# app's sharedWith list (CONTRACT.md).
package rulekeeper.builtin

personal_owner_grant := personal_grant("owner")

personal_grant(role) := {
	"kind": "personal",
	"id": concat(".", ["personal", role]),
	"name": personal_table.roles[role].name,
}

# The subject's roles on a personal app.
personal_roles contains "owner" if is_app_owner

personal_roles contains "viewer" if is_shared_with_subject

# personal_grants(type, action, ot): what the subject's personal roles allow
# on {type, action, objectType ot} for content of a personal space.
personal_grants(type, action, ot) := {g |
	some role in personal_roles
	objects_ok(personal_table.roles[role][type][action], ot)
	g := personal_grant(role)
} if {
	environment == "hub"
	space_type == "personal"
} else := set()

# The hot path: the index (data.rulekeeper.index.personal) holds the grant
# of each role per request, for apps, app objects and schedules (the types
# of the personal table; personal_spaces_test.rego checks that it has no
# other). Apps, most requests, read the input directly where a helper rule
# would cost an evaluation of its own (object_type is "*", is_app_owner
# compares resource.owner, creator_ok holds: the index has make_public and
# make_private for app objects alone); app objects and schedules go
# through the helpers. The owner test comes first: the rule index has
# already checked the equalities on the space type and the resource type
# (they stay in the body for what they mean), and most subjects asked
# about a personal app do not own it.
grants contains g if {
	input.resource.owner == input.subject.id
	input.subject.id != ""
	input.resource.spaceType == "personal"
	input.resource.type == "app"
	g := data.rulekeeper.index.personal.owner.app[input.action]["*"]
	not input.context.environment == "console"
}

# Viewers: the first line asks for a first entry of sharedWith (without
# one, nobody is a viewer), so that OPA's rule index leaves the rule out of
# the decisions on apps shared with nobody (most).
grants contains g if {
	_ = input.resource.sharedWith[0]
	input.resource.spaceType == "personal"
	input.resource.type == "app"
	g := data.rulekeeper.index.personal.viewer.app[input.action]["*"]
	not input.context.environment == "console"
	is_shared_with_subject
}

# App objects, by the actions the index has for them (named for the rule
# index, as in shared_spaces.rego; app_objects_test.rego checks they cover
# the index), and schedules.
grants contains g if {
	input.resource.spaceType == "personal"
	input.resource.type == "app.object"
	input.action in {"create", "delete", "make_private", "make_public", "update"}
	some role in personal_roles
	g := data.rulekeeper.index.personal[role][input.resource.type][input.action][object_type]
	environment == "hub"
	creator_ok
}

grants contains g if {
	input.resource.spaceType == "personal"
	input.resource.type == "schedule"
	some role in personal_roles
	g := data.rulekeeper.index.personal[role][input.resource.type][input.action][object_type]
	environment == "hub"
	creator_ok
}

# Any user creates apps in their own personal space (seed §6.5 "Create an
# app in your personal space"); the analyzer_license gate refuses analyzers,
# who cannot create apps (§6.7: no such row in the analyzer table). The
# first rule reads the input directly; the second, left out by OPA's rule
# index but for an app whose spaceType is empty or absent (no space: the
# personal space), derives it (space_type).
grants contains personal_create_app if {
	input.resource.type == "app"
	input.action == "create"
	input.resource.spaceType == "personal"
	not input.context.environment == "console"
}

grants contains personal_create_app if {
	input.resource.type == "app"
	input.action == "create"
	input.resource.spaceType == ""
	environment == "hub"
	space_type == "personal"
}

grants contains personal_create_app if {
	input.resource.type == "app"
	input.action == "create"
	not input.resource.spaceType
	environment == "hub"
	space_type == "personal"
}

personal_create_app := {
	"kind": "personal",
	"id": "personal.create_app",
	"name": "Any user creates apps in their personal space",
}
