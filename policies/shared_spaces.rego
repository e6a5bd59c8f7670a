# Shared spaces: seed 000 §6 "Working in shared spaces" and the permission
# tables of §6.7 "Managing permissions in shared spaces", quoted in
# shared_spaces.json (data.rulekeeper.tables.shared).
#
# A request {resource.type, action, objectType} is looked up in the table's
# target index (targets[type][action][objectType or "*"]) to find the seed
# rows that decide it; a row grants when the subject's license table has the
# row, one of the subject's roles in the space has "Yes" in that row and,
# for the rows with the footnote "The user must be the app owner.", the
# subject owns the app. Professional holders fall back to the analyzer table
# for rows the professional table does not have ("Change app owners"): a
# professional license allows whatever an analyzer license allows.
package rulekeeper.builtin

# The table rows (by id) that apply to the subject's license.
shared_row(id) := row if {
	license_class == "professional"
	row := shared_table.professional.rows[id]
} else := row if {
	license_class in {"professional", "analyzer"}
	row := shared_table.analyzer.rows[id]
}

# shared_row_grants(id, sid): the grants of table row id for the subject in
# the shared space sid, one per role whose cell says "Yes".
shared_row_grants(id, sid) := {g |
	row := shared_row(id)
	some role in space_roles(sid)
	row[role] == "Yes"
	app_owner_ok(row)
	g := {
		"kind": "table",
		"id": id,
		"name": sprintf("%s (%s)", [row.row, shared_table.columns[role]]),
	}
}

app_owner_ok(row) if not row.appOwner

app_owner_ok(_) if is_app_owner

# shared_target_grants(type, action, ot): the grants of every row that
# decides {type, action, objectType ot} for a resource in a shared space
# (used for requests derived from the one asked: opening the app of an
# object, creating an object of the kind asked about).
shared_target_grants(type, action, ot) := {g |
	some id in shared_table.targets[type][action][ot]
	some g in shared_row_grants(id, space_id)
} if {
	environment == "hub"
	space_type == "shared"
} else := set()

# Every tabled request but moves, which need both spaces (below): the hot
# path. The index (data.rulekeeper.index, derived from the tables by
# policies_test/index_test.go) holds per license type, request and role the
# finished grants of the rows that say "Yes"; footnoted rows, which need the
# app owner, apart.
#
# Every decision walks these rules, so the first reads the input directly
# where a helper rule would cost an evaluation of its own: for a resource
# that is not an app object (object_type "*") and names its space
# (space_id is resource.spaceId), asked in the hub (environment: anything
# but "console"). It leaves out creator_ok, which only restricts
# make_public and make_private: the index has those actions for app
# objects alone (shared_spaces_test.rego checks it). The other requests,
# picked by OPA's rule index on the equalities or by the negation, get
# shared_plain, the same lookup through the helpers; in the console
# shared_plain grants nothing either.
#
# The subject's roles in the space come first: most subjects asked about
# a space's content hold none there, and the rule then fails before the
# environment and the index are read (and before the builtin call of
# sid != ""), and before the space type, which the rule index has checked
# already (it stays in the body for what it means). An app object is not tested for: the index has no row for
# an app object under objectType "*" (app_objects_test.rego checks it), so
# the lookup of the rows fails for one, which saves every other request a
# builtin call.
grants contains g if {
	sid := input.resource.spaceId
	roles := input.subject.spaces[sid]
	input.resource.spaceType == "shared"
	sid != ""
	not input.context.environment == "console"
	rows := data.rulekeeper.index.shared.plain[input.subject.license.type][input.resource.type][input.action]["*"]
	some role in roles
	some g in rows[role]
}

# App objects: the actions the index has for them (named for the rule
# index, so that a read, which the tables leave to ownership.rego, enters
# no space rule; app_objects_test.rego checks they cover the index).
grants contains g if {
	input.resource.spaceType == "shared"
	input.resource.type == "app.object"
	input.action in {"create", "make_private", "make_public"}
	some g in shared_plain
}

# A shared resource whose spaceId is empty, or absent (written by hand: the
# engine sends it; "not" fails at once when it is there).
grants contains g if {
	input.resource.spaceType == "shared"
	input.resource.spaceId == ""
	some g in shared_plain
}

grants contains g if {
	input.resource.spaceType == "shared"
	not input.resource.spaceId
	some g in shared_plain
}

shared_plain contains g if {
	some role in input.subject.spaces[space_id]
	some g in data.rulekeeper.index.shared.plain[input.subject.license.type][input.resource.type][input.action][object_type][role]
	environment == "hub"
	creator_ok
}

# The footnoted rows ("The user must be the app owner.", seed §6.7), by the
# requests that have them in data.rulekeeper.index.shared.appOwner: data
# model and data files (professional, app), master items, variables and
# media (professional, app.object), app attributes and properties
# (analyzer, app). The request is named with equalities and literal sets
# only, so that OPA's rule index leaves these rules out of every other
# request without reading the index (a lookup of the index by the rule
# index reads the store).
# test_app_owner_rules_reach_every_footnoted_row (shared_spaces_test.rego)
# checks that they reach every request of the index. Each asks
# is_app_owner inline (most subjects do not own the app) before the helper.
# The license is asked last, through license_class: an equality on
# input.subject.license.type here would give the rule index of grants a
# level for it, which every decision walks for these three rules.
grants contains g if {
	input.resource.spaceType == "shared"
	input.resource.type == "app"
	input.action in {"add_data_files", "edit_data_model", "view_data_model"}
	input.resource.owner == input.subject.id
	input.subject.id != ""
	license_class == "professional"
	some g in shared_app_owner
}

grants contains g if {
	input.resource.spaceType == "shared"
	input.resource.type == "app.object"
	input.action in {"create", "update", "delete"}
	input.resource.objectType in {"masteritem", "variable", "media"}
	input.resource.app.owner == input.subject.id
	input.subject.id != ""
	license_class == "professional"
	some g in shared_app_owner
}

grants contains g if {
	input.resource.spaceType == "shared"
	input.resource.type == "app"
	input.action in {"update", "edit_properties"}
	input.resource.owner == input.subject.id
	input.subject.id != ""
	license_class == "analyzer"
	some g in shared_app_owner
}

# The footnoted rows of the request, for the app owner.
shared_app_owner contains g if {
	rows := data.rulekeeper.index.shared.appOwner[input.subject.license.type][input.resource.type][input.action]
	some role in input.subject.spaces[space_id]
	some g in rows[object_type][role]
	environment == "hub"
	creator_ok
}

# Members read their shared space and its member list: "Shared spaces are
# restricted to the members" (seed §6). The rule reads the input directly
# (a space resource names itself in spaceId); a space whose spaceType or
# spaceId is empty or absent gets the same grant through the fallbacks
# (derived_grants in spaces.rego, shared_plain above), which derive them
# (space_type, space_id).
grants contains member_grant(roles) if {
	input.resource.type == "space"
	input.action == "read"
	input.resource.spaceType == "shared"
	sid := input.resource.spaceId
	roles := input.subject.spaces[sid]
	sid != ""
	count(roles) > 0
	not input.context.environment == "console"
}

shared_plain contains g if {
	input.resource.type == "space"
	input.action == "read"
	some g in derived_member_grant
}

derived_member_grant contains member_grant(roles) if {
	environment == "hub"
	space_type == "shared"
	roles := space_roles(space_id)
	count(roles) > 0
}

member_grant(roles) := {
	"kind": "member",
	"id": "shared.space.member",
	"name": sprintf("Member of the shared space (%s)", [concat(", ", roles)]),
}

# Moving an app (seed §6.6 "Moving apps between spaces", §6.7 rows "Move apps
# to another space" and "Move apps to the space") needs the source side and
# the target side. A personal space is the app owner's: only the app owner
# moves an app out of it or back into it. Apps are not moved into or out of
# managed spaces; they are published (managed_spaces.rego).
grants contains g if {
	input.resource.type == "app"
	input.action == "move"
	environment == "hub"
	count(move_source) > 0
	count(move_target) > 0
	some g in (move_source | move_target)
}

move_source contains g if {
	space_type == "shared"
	some g in shared_row_grants("shared.space.move_app_out", space_id)
}

move_source contains personal_owner_grant if {
	space_type == "personal"
	is_app_owner
}

move_target contains g if {
	input.resource.targetSpaceType == "shared"
	some g in shared_row_grants("shared.space.move_app_in", input.resource.targetSpaceId)
}

move_target contains personal_owner_grant if {
	input.resource.targetSpaceType == "personal"
	is_app_owner
}

# Any user creates a shared space (seed §1.3, §6.7 "Any cloud hub member with
# a professional license can create a space"); the analyzer_license gate
# refuses analyzers.
grants contains {
	"kind": "everyone",
	"id": "everyone.create_shared_space",
	"name": "Any user with a professional license creates a shared space",
} if {
	input.resource.type == "space"
	input.action == "create"
	environment == "hub"
	space_type == "shared"
}
