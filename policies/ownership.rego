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
# managed space.
app_read_grants := shared_target_grants("app", "read", "*") if {
	space_type == "shared"
} else := personal_grants("app", "read", "*") if {
	space_type == "personal"
} else := managed_grants("app", "read", "*")

# Content every reader of the app sees.
app_wide_objects := {"masteritem", "variable", "media"}

object_visible if input.resource.objectType in app_wide_objects

object_visible if input.resource.public == true

# Objects their creator keeps: private until made public.
creator_objects := {"sheet", "story", "bookmark", "snapshot"}

creator_grant := {
	"kind": "owner",
	"id": "app.object.creator",
	"name": "Creator of the app object",
}

# Public objects and app-wide content: whoever opens the app.
grants contains g if {
	input.resource.type == "app.object"
	input.action == "read"
	object_visible
	some g in app_read_grants
}

# Private objects: their creator, while they may open the app.
grants contains creator_grant if {
	input.resource.type == "app.object"
	input.action == "read"
	is_creator
	count(app_read_grants) > 0
}

# The creator changes and deletes their own sheets, stories, bookmarks and
# snapshots while they may create such objects in the app.
grants contains creator_grant if {
	input.resource.type == "app.object"
	input.action in {"update", "delete"}
	input.resource.objectType in creator_objects
	is_creator
	count(create_object_grants) > 0
}

create_object_grants := shared_target_grants("app.object", "create", object_type) if {
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
