# Ownership and app content (package rulekeeper.builtin).
#
# App objects (sheets, stories, bookmarks, snapshots, master items,
# variables, media): seed 000 §6.5 "All Can edit users can add sheets,
# stories, and bookmarks to the app. Their content is private until they
# chose to make it public in the app", §6.6 "Only the creator of the private
# content can see it in the app", "Snapshots taken for stories are not
# shared with other users". Master items, variables and media library
# content are app-wide content: whoever opens the app sees them, and the
# §6.7 rows decide who creates, edits and deletes them.
#
# Whoever may open the app reads its public objects and its app-wide
# content; the creator alone reads a private object, and changes or deletes
# their own sheets, stories, bookmarks and snapshots while they may still
# create that kind of object in the app. Users read themselves.
package rulekeeper.builtin

# app_read_grants: the grants that open the app the resource is or belongs
# to, from the shared table ("Open an app"), the personal space or the
# managed space. An app object the engine describes (its space type and id
# named, asked in the hub: most) reads them from the derived index
# (data.rulekeeper.index, policies_test/index_test.go) as the space rules
# do; the others go through the table helpers (the last else), which give
# the same grants: "Open an app" is no footnoted row, and
# ownership_test.rego checks the index has no footnoted app read.
app_read_grants := {g |
	some role in input.subject.spaces[input.resource.spaceId]
	some g in data.rulekeeper.index.shared.plain[input.subject.license.type].app.read["*"][role]
} if {
	input.resource.spaceType == "shared"
	input.resource.spaceId != ""
	not input.context.environment == "console"
} else := {g |
	some role in input.subject.spaces[input.resource.spaceId]
	g := data.rulekeeper.index.managed[role].app.read["*"]
} if {
	input.resource.spaceType == "managed"
	input.resource.spaceId != ""
	not input.context.environment == "console"
} else := {g |
	some role in personal_roles
	g := data.rulekeeper.index.personal[role].app.read["*"]
} if {
	input.resource.spaceType == "personal"
	not input.context.environment == "console"
} else := shared_target_grants("app", "read", "*") if {
	space_type == "shared"
} else := personal_grants("app", "read", "*") if {
	space_type == "personal"
} else := managed_grants("app", "read", "*")

# Content every reader of the app sees (seed §6.6: master items, variables
# and media library content are app-wide).
app_wide_objects := {"masteritem", "variable", "media"}

# Objects their creator keeps: private until made public.
creator_objects := {"sheet", "story", "bookmark", "snapshot"}

creator_grant := {
	"kind": "owner",
	"id": "app.object.creator",
	"name": "Creator of the app object",
}

# Public objects and app-wide content: whoever opens the app. Two rules
# rather than object_visible: the first names its objects with a literal
# the rule index checks, so that a decision on a private sheet does not
# enter it. (The set is app_wide_objects; ownership_test.rego checks they
# agree.) The second asks object_public, a rule of its own, rather than
# `input.resource.public == true` in its body: an equality puts a level
# for input.resource.public into the rule index of grants, which every
# decision walks (and resolves the field in each of its branches) to serve
# this one rule; app object reads pay the helper instead (bench/README.md).
grants contains g if {
	input.resource.type == "app.object"
	input.action == "read"
	input.resource.objectType in {"masteritem", "variable", "media"}
	some g in app_read_grants
}

grants contains g if {
	input.resource.type == "app.object"
	input.action == "read"
	object_public
	some g in app_read_grants
}

object_public if input.resource.public == true

# Private objects: their creator (is_creator, read directly), while they
# may open the app.
grants contains creator_grant if {
	input.resource.type == "app.object"
	input.action == "read"
	input.resource.owner == input.subject.id
	input.subject.id != ""
	count(app_read_grants) > 0
}

# The creator changes and deletes their own sheets, stories, bookmarks and
# snapshots (creator_objects, named for the rule index) while they may
# create such objects in the app.
grants contains creator_grant if {
	input.resource.type == "app.object"
	input.action in {"update", "delete"}
	input.resource.objectType in {"sheet", "story", "bookmark", "snapshot"}
	input.resource.owner == input.subject.id
	input.subject.id != ""
	count(create_object_grants) > 0
}

# create_object_grants: what lets the subject create an object of the kind
# of the resource, read as app_read_grants reads (the footnoted rows of the
# index have no creator object: ownership_test.rego).
create_object_grants := {g |
	some role in input.subject.spaces[input.resource.spaceId]
	some g in data.rulekeeper.index.shared.plain[input.subject.license.type]["app.object"].create[input.resource.objectType][role]
} if {
	input.resource.spaceType == "shared"
	input.resource.spaceId != ""
	not input.context.environment == "console"
} else := {g |
	some role in input.subject.spaces[input.resource.spaceId]
	g := data.rulekeeper.index.managed[role]["app.object"].create[input.resource.objectType]
} if {
	input.resource.spaceType == "managed"
	input.resource.spaceId != ""
	not input.context.environment == "console"
} else := {g |
	some role in personal_roles
	g := data.rulekeeper.index.personal[role]["app.object"].create[input.resource.objectType]
} if {
	input.resource.spaceType == "personal"
	not input.context.environment == "console"
} else := shared_target_grants("app.object", "create", object_type) if {
	space_type == "shared"
} else := personal_grants("app.object", "create", object_type) if {
	space_type == "personal"
} else := managed_grants("app.object", "create", object_type)

# Users read themselves, in the hub and in the console (seed §1.2; the
# profile page works even without a license, see gates.rego).
grants contains {
	"kind": "owner",
	"id": "user.self",
	"name": "Users read themselves",
} if {
	input.resource.type == "user"
	input.action == "read"
	input.resource.id == subject_id
}

# A caller may ask decisions about itself (API.md "Decisions"); asking about
# others is a role grant (TenantAdmin, AuthzClient, roles.json).
grants contains {
	"kind": "owner",
	"id": "decision.self",
	"name": "Subjects ask decisions about themselves",
} if {
	input.resource.type == "decision"
	input.action == "read"
	input.resource.id == subject_id
}
