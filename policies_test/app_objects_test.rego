# App objects (ownership.rego): private content is visible only to its
# creator; public content and app-wide content (master items, variables,
# media) to whoever opens the app; creators edit their own content.
package rulekeeper.app_objects_test

import data.rulekeeper.testing as h

editor := h.subject("professional", {"sp-1": ["canedit"]})

viewer := h.subject("professional", {"sp-1": ["canview"]})

obj(ot, creator, public) := h.app_object(ot, creator, public, h.other, "sp-1", "shared")

test_a_private_object_is_visible_only_to_its_creator[ot] if {
	some ot in ["sheet", "story", "bookmark", "snapshot"]
	h.decide(h.hub(editor, "read", obj(ot, h.me, false))).grants == [{"kind": "owner", "id": "app.object.creator", "name": "Creator of the app object"}]
	h.denied(h.hub(editor, "read", obj(ot, h.other, false)))
}

test_a_public_object_is_visible_to_whoever_opens_the_app[ot] if {
	some ot in ["sheet", "story", "bookmark", "snapshot"]
	h.decide(h.hub(viewer, "read", obj(ot, h.other, true))).grants == [{"kind": "table", "id": "shared.app.open", "name": "Open an app (Can view)"}]
}

test_app_wide_content_is_visible_to_whoever_opens_the_app[ot] if {
	some ot in ["masteritem", "variable", "media"]
	h.allowed(h.hub(viewer, "read", obj(ot, h.other, false)))
}

test_a_creator_who_lost_access_to_the_app_no_longer_sees_their_object if {
	h.denied(h.hub(h.subject("professional", {}), "read", obj("sheet", h.me, false)))
}

test_a_non_member_sees_no_public_object if {
	h.denied(h.hub(h.subject("professional", {}), "read", obj("sheet", h.other, true)))
}

test_the_creator_edits_and_deletes_their_own_sheet[action] if {
	some action in ["update", "delete"]
	h.decide(h.hub(editor, action, obj("sheet", h.me, true))).grants == [{"kind": "owner", "id": "app.object.creator", "name": "Creator of the app object"}]
	h.denied(h.hub(editor, action, obj("sheet", h.other, true)))
}

test_a_can_view_member_edits_their_own_bookmarks_but_not_their_old_sheets if {
	h.allowed(h.hub(viewer, "update", obj("bookmark", h.me, false)))
	h.allowed(h.hub(viewer, "delete", obj("story", h.me, false)))
	h.denied(h.hub(viewer, "update", obj("sheet", h.me, false)))
}

test_an_analyzer_edits_their_own_bookmarks if {
	analyzer := h.subject("analyzer", {"sp-1": ["canview"]})
	h.allowed(h.hub(analyzer, "update", obj("bookmark", h.me, false)))
	h.allowed(h.hub(analyzer, "read", obj("snapshot", h.me, false)))
}

test_master_items_follow_the_table_not_the_creator if {
	# "Create, edit, and delete master items and variables": the user must be
	# the app owner (seed §6.7 footnote); creating one is not enough.
	h.denied(h.hub(editor, "update", obj("masteritem", h.me, true)))
	mine := h.app_object("masteritem", h.other, true, h.me, "sp-1", "shared")
	h.allowed(h.hub(editor, "delete", mine))
}

test_an_object_is_placed_in_its_apps_space_when_it_names_no_space if {
	o := object.remove(obj("sheet", h.other, true), ["spaceId", "spaceType"])
	with_space := object.union(o, {"space": {"id": "sp-1", "type": "shared", "owner": "u-x"}})
	h.allowed(h.hub(viewer, "read", with_space))
}

test_a_space_named_only_by_its_related_space_is_found if {
	r := {"type": "app", "id": "a-1", "owner": h.other, "space": {"id": "sp-1", "type": "shared", "owner": "u-x"}}
	h.allowed(h.hub(viewer, "read", r))
}

test_a_space_named_only_by_its_id_is_found if {
	r := {"type": "space", "id": "sp-1", "spaceType": "shared"}
	h.allowed(h.hub(viewer, "read", r))
}

test_a_resource_outside_any_space_has_no_space_grant if {
	h.denied(h.hub(viewer, "read", {"type": "space"}))
}

test_the_creator_edits_their_own_objects_in_personal_and_managed_apps if {
	h.allowed(h.hub(h.subject("professional", {}), "update", h.app_object("sheet", h.me, false, h.me, "", "personal")))
	h.denied(h.hub(h.subject("professional", {}), "update", h.app_object("sheet", h.me, false, h.other, "", "personal")))
	managed_viewer := h.subject("analyzer", {"m-1": ["canview"]})
	h.allowed(h.hub(managed_viewer, "delete", h.app_object("bookmark", h.me, false, h.other, "m-1", "managed")))
	h.denied(h.hub(h.subject("professional", {"m-1": ["hasrestrictedview"]}), "delete", h.app_object("bookmark", h.me, false, h.other, "m-1", "managed")))
}

# The space rules name the app object actions for OPA's rule index
# (shared_spaces.rego, managed_spaces.rego, personal_spaces.rego): every
# app object request of the derived index still gets its grants.
test_the_space_rules_reach_every_app_object_request_of_the_index if {
	shared := [[h.subject(lic, {"sp-1": [role]}), a, h.app_object(ot, h.me, false, h.other, "sp-1", "shared"), rows] |
		some lic, types in data.rulekeeper.index.shared.plain
		some a, objects in types["app.object"]
		some ot, roles in objects
		some role, rows in roles
	]
	managed := [[h.subject("professional", {"sp-1": [role]}), a, h.app_object(ot, h.me, false, h.other, "sp-1", "managed"), {g}] |
		some role, types in data.rulekeeper.index.managed
		some a, objects in types["app.object"]
		some ot, g in objects
	]
	personal := [[h.subject("professional", {}), a, h.app_object(ot, h.me, false, h.me, "", "personal"), {g}] |
		some a, objects in data.rulekeeper.index.personal.owner["app.object"]
		some ot, g in objects
	]
	count(shared) > 10
	count(managed) > 10
	count(personal) > 10
	every c in array.concat(array.concat(shared, managed), personal) {
		[s, a, r, rows] := c
		got := data.rulekeeper.builtin.grants with input as h.hub(s, a, r)
		every g in rows {
			g in got
		}
	}
}

# ownership.rego reads the grants that open an app, and those that create
# an object of a creator's kind, from the plain part of the index: the
# footnoted rows have neither.
test_no_footnoted_row_opens_an_app_or_creates_a_creators_object if {
	every _, types in data.rulekeeper.index.shared.appOwner {
		not types.app.read
		every ot in data.rulekeeper.builtin.creator_objects {
			not types["app.object"].create[ot]
		}
	}
}

# The literal sets of the ownership rules are the named ones.
test_the_ownership_rules_name_the_object_sets if {
	data.rulekeeper.builtin.app_wide_objects == {"masteritem", "variable", "media"}
	data.rulekeeper.builtin.creator_objects == {"sheet", "story", "bookmark", "snapshot"}
}

# The hot rules of shared and managed spaces (shared_spaces.rego,
# managed_spaces.rego) do not test the resource's type: they look the
# request up under objectType "*", and rely on the index having no grant
# for an app object there (app objects are keyed by their object type).
test_the_index_has_no_app_object_row_under_any_object_type if {
	count([lic | some lic, by_type in data.rulekeeper.index.shared.plain; by_type["app.object"][_]["*"]]) == 0
	count([role | some role, by_type in data.rulekeeper.index.managed; by_type["app.object"][_]["*"]]) == 0
}
