# Personal spaces (personal_spaces.rego): only the owner edits; apps are
# shared out for viewing only (seed 000 §1.3).
package rulekeeper.personal_spaces_test

import data.rulekeeper.testing as h

owner_app_actions := [
	"read", "update", "delete", "reload", "export", "export_data", "duplicate", "view_data_model",
	"edit_data_model", "add_data_files", "edit_properties", "take_snapshot", "view_ondemand_links",
	"edit_ondemand_links", "open_ondemand_selection", "generate_ondemand",
]

other_app_actions := ["change_owner", "publish", "move", "approve", "access_offline", "allow_access", "manage_members"]

pro := h.subject("professional", {})

test_the_owner_does_everything_with_an_app_in_the_personal_space[action] if {
	some action in owner_app_actions
	q := h.hub(pro, action, h.app("a-1", h.me, "", "personal"))
	h.grant_ids(q) == {"personal.owner"}
	h.allowed(q)
}

test_nobody_else_touches_an_app_in_somebody_elses_personal_space[action] if {
	some action in array.concat(owner_app_actions, other_app_actions)
	h.denied(h.hub(pro, action, h.app("a-1", h.other, "", "personal")))
}

test_the_owner_has_no_grant_beyond_the_personal_table[action] if {
	some action in ["change_owner", "publish", "move", "approve"]
	h.denied(h.hub(pro, action, h.app("a-1", h.me, "", "personal")))
}

test_a_personal_app_is_recognised_without_a_space_type if {
	q := h.hub(pro, "reload", {"type": "app", "id": "a-1", "owner": h.me})
	h.allowed(q)
}

test_an_app_shared_with_a_user_is_viewed_only[action] if {
	some action in owner_app_actions
	r := object.union(h.app("a-1", h.other, "", "personal"), {"sharedWith": [h.me]})
	want := action == "read"
	h.decide(h.hub(pro, action, r)).allow == want
}

test_an_app_shared_with_a_group_is_viewed_by_its_members if {
	r := object.union(h.app("a-1", h.other, "", "personal"), {"sharedWith": ["g-sales"]})
	h.decide(h.hub(pro, "read", r)).grants == [{"kind": "personal", "id": "personal.viewer", "name": "Viewer of an app shared from a personal space"}]
	h.denied(h.hub(pro, "update", r))
}

test_any_user_creates_apps_in_the_personal_space if {
	h.decide(h.hub(pro, "create", {"type": "app"})).grants == [{"kind": "personal", "id": "personal.create_app", "name": "Any user creates apps in their personal space"}]
}

test_the_owner_manages_reload_schedules_of_personal_apps[action] if {
	some action in ["create", "read", "update", "delete"]
	h.allowed(h.hub(pro, action, h.schedule(h.me, "", "personal")))
	h.denied(h.hub(pro, action, h.schedule(h.other, "", "personal")))
}

test_the_owner_creates_every_kind_of_object_in_a_personal_app[ot] if {
	some ot in ["sheet", "story", "bookmark", "snapshot", "masteritem", "variable", "media"]
	h.allowed(h.hub(pro, "create", h.app_object(ot, h.me, false, h.me, "", "personal")))
}

test_a_viewer_of_a_shared_personal_app_creates_nothing_in_it if {
	o := object.union(h.app_object("bookmark", h.me, false, h.other, "", "personal"), {"app": {"id": "a-1", "owner": h.other, "spaceId": "", "sharedWith": [h.me]}})
	h.denied(h.hub(pro, "create", o))
}

test_a_viewer_of_a_shared_personal_app_reads_its_public_sheets if {
	app := {"id": "a-1", "owner": h.other, "spaceId": "", "sharedWith": ["g-sales"]}
	public := object.union(h.app_object("sheet", h.other, true, h.other, "", "personal"), {"app": app})
	h.allowed(h.hub(pro, "read", public))
	private := object.union(h.app_object("sheet", h.other, false, h.other, "", "personal"), {"app": app})
	h.denied(h.hub(pro, "read", private))
}

test_personal_space_grants_apply_in_the_hub_only if {
	h.denied(h.console(pro, "read", h.app("a-1", h.me, "", "personal")))
	h.denied(h.console(pro, "create", {"type": "app"}))
}

# The grants rules of personal_spaces.rego read apps directly and the other
# types of the index through the helpers: the index has no other type, and
# make_public and make_private for app objects alone (the app rules leave
# creator_ok out).
test_the_personal_index_has_the_types_of_the_personal_rules if {
	types := {t | some t, _ in data.rulekeeper.index.personal[_]}
	types == {"app", "app.object", "schedule"}
	public_private := {t |
		some t, actions in data.rulekeeper.index.personal[_]
		some a, _ in actions
		a in {"make_public", "make_private"}
	}
	public_private == {"app.object"}
}
