# Helpers shared by the built-in grants (package rulekeeper.builtin) and the
# gates: where the question is asked, which license table applies, which
# space the resource lives in and which roles the subject holds there.
# The policy is pure over input (policies/CONTRACT.md) and data.rulekeeper.tables.
package rulekeeper.builtin

# environment is "console" only when the caller says so (CONTRACT.md:
# context.environment "hub" | "console"); anything else is the hub.
default environment := "hub"

environment := "console" if input.context.environment == "console"

# license_class picks the §6.7 table: "professional", "analyzer" (analyzer
# and analyzer capacity, seed §1.1) or "" (no license).
default license_class := ""

license_class := "professional" if input.subject.license.type == "professional"

license_class := "analyzer" if input.subject.license.type in {"analyzer", "analyzer_capacity"}

# object_type keys the tables' target index: the objectType of an app.object,
# "*" for every other resource type.
default object_type := "*"

object_type := input.resource.objectType if input.resource.type == "app.object"

# space_id is the space the resource lives in (a space resource is its own
# space); "" for personal content.
space_id := input.resource.spaceId if {
	input.resource.spaceId != ""
} else := input.resource.id if {
	input.resource.type == "space"
	input.resource.id != ""
} else := input.resource.app.spaceId if {
	input.resource.app.spaceId != ""
} else := input.resource.space.id if {
	input.resource.space.id != ""
} else := ""

# content_types live in a personal space when they name no space.
content_types := {"app", "app.object", "schedule"}

# space_type: "personal" | "shared" | "managed" | "" (not in a space). The
# engine always sets resource.spaceType when it knows the space, and the
# space grants key on it directly so that OPA's rule index picks the rules
# of that space type; spaces.rego derives it for inputs that leave it out.
space_type := input.resource.spaceType if {
	input.resource.spaceType != ""
} else := input.resource.space.type if {
	input.resource.space.type != ""
} else := "personal" if {
	space_id == ""
	input.resource.type in content_types
} else := ""

# space_roles(sid) are the subject's effective roles in space sid, computed
# in Go (highest of individual and group permission, seed §6.2; "owner" for
# the space's ownerId).
space_roles(sid) := roles if {
	sid != ""
	roles := input.subject.spaces[sid]
} else := []

# subject_id is the subject's id, undefined when empty so that an empty id
# never matches an empty owner.
subject_id := input.subject.id if input.subject.id != ""

# is_app_owner: "The user must be the app owner" (seed §6.7 footnotes): the
# subject (subject_id) owns the app the resource is (resource.owner) or
# belongs to (resource.app.owner), read from the input directly (a
# shared-space decision asks it every time).
is_app_owner if {
	input.resource.type == "app"
	input.subject.id != ""
	input.resource.owner == input.subject.id
}

is_app_owner if {
	input.resource.type in {"app.object", "schedule"}
	input.subject.id != ""
	input.resource.app.owner == input.subject.id
}

# is_creator: the subject created the resource (app objects: private content
# is visible only to its creator, seed §6.5, §6.6).
is_creator if input.resource.owner == subject_id

# shared_with are the ids of users and groups a personal app is shared with
# for viewing (seed §1.3); an app object carries its app's list.
shared_with := object.get(input.resource, "sharedWith", []) if input.resource.type == "app"

shared_with := object.get(input.resource, ["app", "sharedWith"], []) if input.resource.type in {"app.object", "schedule"}

is_shared_with_subject if subject_id in shared_with

is_shared_with_subject if {
	some g in input.subject.groupIds
	g in shared_with
}

# objects_ok(ots, ot): a table entry (a list of object types; ["*"] for
# resource types that are not app objects, whose object_type is "*") covers
# object type ot.
objects_ok(ots, ot) if ot in ots

# creator_ok: only the creator makes private content public or public
# content private again (seed §6.5 "Their content is private until they
# chose to make it public", §6.6 "the creator makes them public").
creator_ok if not input.action in {"make_public", "make_private"}

creator_ok if is_creator

# The tables, each read from the store once per decision: a store read
# costs far more than a lookup in a value already read.
shared_table := data.rulekeeper.tables.shared

personal_table := data.rulekeeper.tables.personal

managed_table := data.rulekeeper.tables.managed

roles_table := data.rulekeeper.tables.roles
