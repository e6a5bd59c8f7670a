# Managed spaces: seed 000 §1.3 and §6.8 "Managed spaces enable governed
# access to apps. Managed spaces are restricted to members. [...] Apps that
# you develop in a personal or shared space can be published to a managed
# space. [...] Managed spaces can only be created by tenant administrators."
#
# The seed has no per-role table for managed spaces; the grants of the roles
# owner, canmanage, canpublish, cancontribute, canview, hasrestrictedview,
# canconsumedata and canoperate are listed in managed_spaces.json
# (data.rulekeeper.tables.managed) and explained in README.md.
package rulekeeper.builtin

managed_grant(role) := {
	"kind": "managed",
	"id": concat(".", ["managed", role]),
	"name": sprintf("%s in a managed space", [managed_table.roles[role].name]),
}

# managed_role_grants(sid, type, action, ot): what the subject's roles in
# the managed space sid allow on {type, action, objectType ot}.
managed_role_grants(sid, type, action, ot) := {g |
	some role in space_roles(sid)
	objects_ok(managed_table.roles[role][type][action], ot)
	g := managed_grant(role)
}

managed_grants(type, action, ot) := managed_role_grants(space_id, type, action, ot) if {
	environment == "hub"
	space_type == "managed"
} else := set()

# Everything but publishing, which is decided on the target space.
# The index (data.rulekeeper.index.managed) holds the grant of each role
# per request, publishing left out.
#
# As in shared_spaces.rego, the first rule reads the input directly where a
# helper rule would cost an evaluation of its own: a resource that is not
# an app object (object_type "*") and names its space (space_id is
# resource.spaceId), asked in the hub. It leaves out creator_ok, which only
# restricts make_public and make_private: the index has those actions for
# app objects alone (managed_spaces_test.rego checks it). The others,
# picked by OPA's rule index on the equalities or by the negation, get
# managed_plain, the same lookup through the helpers.
#
# The subject's roles in the space come first, and an app object fails
# at the lookup of the index (as in shared_spaces.rego).
grants contains g if {
	sid := input.resource.spaceId
	roles := input.subject.spaces[sid]
	input.resource.spaceType == "managed"
	sid != ""
	not input.context.environment == "console"
	some role in roles
	g := data.rulekeeper.index.managed[role][input.resource.type][input.action]["*"]
}

# App objects, by the actions the index has for them (as in
# shared_spaces.rego; app_objects_test.rego checks they cover the index).
grants contains g if {
	input.resource.spaceType == "managed"
	input.resource.type == "app.object"
	input.action in {"create", "delete", "make_private", "make_public", "update"}
	some g in managed_plain
}

grants contains g if {
	input.resource.spaceType == "managed"
	input.resource.spaceId == ""
	some g in managed_plain
}

grants contains g if {
	input.resource.spaceType == "managed"
	not input.resource.spaceId
	some g in managed_plain
}

managed_plain contains g if {
	some role in input.subject.spaces[space_id]
	g := data.rulekeeper.index.managed[role][input.resource.type][input.action][object_type]
	environment == "hub"
	creator_ok
}

# Publishing an app into a managed space (seed §1.3) needs a publishing role
# in the target space (resource.targetSpaceId) and, on the source side, the
# app's owner in a personal space or an Owner / Is admin / Can edit member
# of the shared space the app is in.
grants contains g if {
	input.resource.type == "app"
	input.action == "publish"
	environment == "hub"
	count(publish_source) > 0
	count(publish_target) > 0
	some g in (publish_source | publish_target)
}

publish_target contains g if {
	input.resource.targetSpaceType == "managed"
	some g in managed_role_grants(input.resource.targetSpaceId, "app", "publish", "*")
}

publish_source contains personal_owner_grant if {
	space_type == "personal"
	is_app_owner
}

publish_source contains {
	"kind": "member",
	"id": "shared.space.publish_from",
	"name": sprintf("Publishes from the shared space (%s)", [shared_table.columns[role]]),
} if {
	space_type == "shared"
	some role in space_roles(space_id)
	role in managed_table.publishFrom
}
