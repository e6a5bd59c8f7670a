# Shared spaces: every cell of both permission tables of seed 000 §6.7
# (professional and analyzer licenses; Owner, Is admin, Can edit, Can view
# and a non-member; app owner or not), against an independent literal copy
# of the seed — not against the data the policy reads.
package rulekeeper.shared_spaces_test

import data.rulekeeper.testing as h

# The seed tables, copied by hand from seed 000 §6.7. For each row: its name
# exactly as in the seed, the requests (type, action, objectType or "*", and
# for moves the side the role is on) it stands for, and per license the
# cells Owner, Is admin, Can edit, Can view ("Y" Yes, "N" No, "_" blank)
# with true when the row carries "The user must be the app owner.".
# A row missing under a license is not in that license's table.
seed := {
	"shared.space.rename": {"row": "Rename the space", "requests": [["space", "update", "*"]], "professional": ["YYNN", false]},
	"shared.space.create_app": {"row": "Create new apps in the space", "requests": [["app", "create", "*"]], "professional": ["YYYN", false]},
	"shared.space.move_app_out": {"row": "Move apps to another space", "requests": [["app", "move", "*", "out"]], "professional": ["YYYN", false]},
	"shared.space.move_app_in": {"row": "Move apps to the space", "requests": [["app", "move", "*", "in"]], "professional": ["YYYN", false]},
	"shared.space.duplicate_app": {"row": "Duplicate apps in the space", "requests": [["app", "duplicate", "*"]], "professional": ["YYYN", false]},
	"shared.space.export_app": {"row": "Export apps in the space", "requests": [["app", "export", "*"], ["app", "export_data", "*"]], "professional": ["YYYN", false], "analyzer": ["YYYN", false]},
	"shared.space.add_members": {"row": "Add members to the space", "requests": [["space", "add_member", "*"], ["space", "manage_members", "*"]], "professional": ["YYNN", false]},
	"shared.space.change_member_roles": {"row": "Change member permissions for the space (Is admin, Can edit, Can view)", "requests": [["space", "change_role", "*"], ["space", "manage_members", "*"]], "professional": ["YYNN", false]},
	"shared.space.remove_members": {"row": "Remove members from the space", "requests": [["space", "remove_member", "*"], ["space", "manage_members", "*"]], "professional": ["YYNN", false]},
	"shared.space.delete": {"row": "Delete the space", "requests": [["space", "delete", "*"]], "professional": ["YYNN", false]},
	"shared.space.change_app_owner": {"row": "Change app owners", "requests": [["app", "change_owner", "*"]], "analyzer": ["YY__", false]},
	"shared.app.open": {"row": "Open an app", "requests": [["app", "read", "*"]], "professional": ["YYYY", false], "analyzer": ["YYYY", false]},
	"shared.app.delete": {"row": "Delete an app", "requests": [["app", "delete", "*"]], "professional": ["YYYN", false], "analyzer": ["YYYN", false]},
	"shared.app.view_data_model": {"row": "Open Data model viewer", "requests": [["app", "view_data_model", "*"]], "professional": ["YYYN", true]},
	"shared.app.edit_data_model": {"row": "Open and edit the data model in Data load editor or Data manager", "requests": [["app", "edit_data_model", "*"]], "professional": ["YNNN", true]},
	"shared.app.add_data_files": {"row": "Add data files to a space in Data load editor and Data manager", "requests": [["app", "add_data_files", "*"]], "professional": ["YNNN", true]},
	"shared.app.edit_attributes": {"row": "Edit app attributes (change name, description, and tags)", "requests": [["app", "update", "*"]], "professional": ["YYYN", false], "analyzer": ["YYYN", true]},
	"shared.app.edit_properties": {"row": "Edit app properties (select theme, enable right-to-left reading order, set a bookmark as app default, and sheet title styling)", "requests": [["app", "edit_properties", "*"]], "professional": ["YYYN", false], "analyzer": ["YYYN", true]},
	"shared.app.reload": {"row": "Reload the app", "requests": [["app", "reload", "*"], ["schedule", "create", "*"], ["schedule", "read", "*"], ["schedule", "update", "*"], ["schedule", "delete", "*"]], "professional": ["YYYN", false]},
	"shared.app.master_items": {"row": "Create, edit, and delete master items and variables", "requests": [["app.object", "create", "masteritem"], ["app.object", "update", "masteritem"], ["app.object", "delete", "masteritem"], ["app.object", "create", "variable"], ["app.object", "update", "variable"], ["app.object", "delete", "variable"]], "professional": ["YYYN", true]},
	"shared.app.media": {"row": "Create, edit, and delete media library content", "requests": [["app.object", "create", "media"], ["app.object", "update", "media"], ["app.object", "delete", "media"]], "professional": ["YYYN", true]},
	"shared.app.add_private_sheets": {"row": "Add private sheets to the app", "requests": [["app.object", "create", "sheet"]], "professional": ["YYYN", false]},
	"shared.app.add_private_bookmarks_stories": {"row": "Add private bookmarks and stories to the app", "requests": [["app.object", "create", "bookmark"], ["app.object", "create", "story"]], "professional": ["YYYY", false], "analyzer": ["YYYY", false]},
	"shared.app.make_public": {"row": "Make private sheets, bookmarks, and stories public in the app", "requests": [["app.object", "make_public", "sheet"], ["app.object", "make_public", "bookmark"], ["app.object", "make_public", "story"]], "professional": ["YYYN", false]},
	"shared.app.make_private": {"row": "Make public sheets, bookmarks, and stories private in the app", "requests": [["app.object", "make_private", "sheet"], ["app.object", "make_private", "bookmark"], ["app.object", "make_private", "story"]], "professional": ["YYYN", false]},
	"shared.app.take_snapshot": {"row": "Take snapshots in the app", "requests": [["app", "take_snapshot", "*"], ["app.object", "create", "snapshot"]], "professional": ["YYYY", false], "analyzer": ["YYYY", false]},
	"shared.app.make_snapshots_public": {"row": "Make snapshots public", "requests": [["app.object", "make_public", "snapshot"]], "professional": ["YYYN", false]},
	"shared.app.view_ondemand_links": {"row": "View on-demand app navigation links", "requests": [["app", "view_ondemand_links", "*"]], "professional": ["YYYY", false], "analyzer": ["YYYY", false]},
	"shared.app.edit_ondemand_links": {"row": "Create or update app navigation on-demand links", "requests": [["app", "edit_ondemand_links", "*"]], "professional": ["YYYN", false]},
	"shared.app.open_ondemand_selection": {"row": "Open on-demand selection apps", "requests": [["app", "open_ondemand_selection", "*"]], "professional": ["YYYY", false], "analyzer": ["YYYY", false]},
	"shared.app.generate_ondemand": {"row": "Generate on-demand apps", "requests": [["app", "generate_ondemand", "*"]], "professional": ["YYYY", false], "analyzer": ["YYYY", false]},
}

# The seed's row order per license and table.
seed_order := {
	"professional": {
		"space": ["shared.space.rename", "shared.space.create_app", "shared.space.move_app_out", "shared.space.move_app_in", "shared.space.duplicate_app", "shared.space.export_app", "shared.space.add_members", "shared.space.change_member_roles", "shared.space.remove_members", "shared.space.delete"],
		"app": ["shared.app.open", "shared.app.delete", "shared.app.view_data_model", "shared.app.edit_data_model", "shared.app.add_data_files", "shared.app.edit_attributes", "shared.app.edit_properties", "shared.app.reload", "shared.app.master_items", "shared.app.media", "shared.app.add_private_sheets", "shared.app.add_private_bookmarks_stories", "shared.app.make_public", "shared.app.make_private", "shared.app.take_snapshot", "shared.app.make_snapshots_public", "shared.app.view_ondemand_links", "shared.app.edit_ondemand_links", "shared.app.open_ondemand_selection", "shared.app.generate_ondemand"],
	},
	"analyzer": {
		"space": ["shared.space.change_app_owner", "shared.space.export_app"],
		"app": ["shared.app.open", "shared.app.delete", "shared.app.edit_attributes", "shared.app.edit_properties", "shared.app.add_private_bookmarks_stories", "shared.app.take_snapshot", "shared.app.view_ondemand_links", "shared.app.open_ondemand_selection", "shared.app.generate_ondemand"],
	},
}

columns := ["owner", "admin", "canedit", "canview", "none"]

# What a license's subject gets from a row: its own table's cells; a
# professional license also allows what the analyzer table allows for rows
# the professional table lacks.
cells(row, "professional") := row.professional

cells(row, "analyzer") := row.analyzer

cells(row, "professional") := row.analyzer if not row.professional

expect(row, license, i, app_owner) if {
	[yes, footnote] := cells(row, license)
	substring(yes, i, 1) == "Y"
	owner_ok(footnote, app_owner)
} else := false

owner_ok(false, _)

owner_ok(true, true)

owner_label(true) := "app owner"

owner_label(false) := "not app owner"

owner_id(true) := h.me

owner_id(false) := h.other

roles_in(role) := {"sp-1": [role]} if role != "none"

else := {}

cell_subject(license, role) := h.subject(license, object.union({"sp-2": ["owner"]}, roles_in(role)))

cell_resource(["space", _, _], _) := h.space("sp-1", "shared", "u-space-owner")

cell_resource(["app", "create", _], _) := {"type": "app", "spaceId": "sp-1", "spaceType": "shared"}

cell_resource(["app", action, _], app_owner) := h.app("a-1", owner_id(app_owner), "sp-1", "shared") if action != "create"

cell_resource(["app", "move", _, "out"], app_owner) := object.union(
	h.app("a-1", owner_id(app_owner), "sp-1", "shared"),
	{"targetSpaceId": "sp-2", "targetSpaceType": "shared"},
)

cell_resource(["app", "move", _, "in"], app_owner) := object.union(
	h.app("a-1", owner_id(app_owner), "sp-2", "shared"),
	{"targetSpaceId": "sp-1", "targetSpaceType": "shared"},
)

cell_resource(["app.object", _, ot], app_owner) := h.app_object(ot, h.me, false, owner_id(app_owner), "sp-1", "shared")

cell_resource(["schedule", _, _], app_owner) := h.schedule(owner_id(app_owner), "sp-1", "shared")

cell_input(req, license, role, app_owner) := h.hub(cell_subject(license, role), req[1], cell_resource(req, app_owner))

table_grant_ok(_, _, false)

table_grant_ok(d, id, true) if {
	some g in d.grants
	g.kind == "table"
	g.id == id
}

# Rows missing from the analyzer table are refused to analyzers by a gate.
analyzer_gate_ok(d, row, "analyzer") if {
	not row.analyzer
	{"kind": "gate", "reason": "analyzer_license"} in d.denies
}

analyzer_gate_ok(d, row, "analyzer") if {
	row.analyzer
	not {"kind": "gate", "reason": "analyzer_license"} in d.denies
}

analyzer_gate_ok(d, _, "professional") if count(d.denies) == 0

test_every_cell_of_the_shared_space_tables_decides_its_requests[name] if {
	some id, row in seed
	some license in ["professional", "analyzer"]
	some req in row.requests
	some i, role in columns
	some app_owner in [true, false]
	name := sprintf("%s %s %v as %s, %s", [license, id, req, role, owner_label(app_owner)])
	d := h.decide(cell_input(req, license, role, app_owner))
	d.allow == expect(row, license, i, app_owner)
	table_grant_ok(d, id, d.allow)
	analyzer_gate_ok(d, row, license)
}

# The same cells for inputs that leave resource.spaceType out and name the
# space type on the related space only (spaces.rego): the decision, grants
# and gates included, is the one of the complete input. Moves are decided
# on both spaces' types and are left out.
test_every_cell_decides_alike_without_a_space_type[name] if {
	some id, row in seed
	some license in ["professional", "analyzer"]
	some req in row.requests
	req[1] != "move"
	some role in columns
	some app_owner in [true, false]
	name := sprintf("%s %s %v as %s, %s", [license, id, req, role, owner_label(app_owner)])
	full := cell_input(req, license, role, app_owner)
	derived := object.union(full, {"resource": {"spaceType": "", "space": {"id": "sp-1", "type": "shared"}}})
	h.decide(derived) == h.decide(full)
}

# The data the policy reads quotes the seed faithfully.
yes_no := {"Y": "Yes", "N": "No", "_": ""}

quoted(row) := [
	row.row, concat("", [c |
		some col in ["owner", "admin", "canedit", "canview"]
		some k, v in yes_no
		v == row[col]
		c := k
	]),
	object.get(row, "appOwner", false),
]

test_the_professional_table_quotes_every_seed_row_and_cell if {
	got := {id: quoted(r) | some id, r in data.rulekeeper.tables.shared.professional.rows}
	want := {id: [row.row, row.professional[0], row.professional[1]] | some id, row in seed; row.professional}
	got == want
}

test_the_analyzer_table_quotes_every_seed_row_and_cell if {
	got := {id: quoted(r) | some id, r in data.rulekeeper.tables.shared.analyzer.rows}
	want := {id: [row.row, row.analyzer[0], row.analyzer[1]] | some id, row in seed; row.analyzer}
	got == want
}

test_the_tables_keep_the_seed_row_order if {
	every license, tables in seed_order {
		every table, ids in tables {
			got := {r.n: id | some id, r in data.rulekeeper.tables.shared[license].rows; r.table == table}
			got == {i + 1: id | some i, id in ids}
		}
	}
}

# A row is owner-only exactly when it carries the seed's footnote.
test_the_footnote_is_quoted_on_every_app_owner_row if {
	footnote := "The user must be the app owner."
	data.rulekeeper.tables.shared.footnote == footnote
	every license in ["professional", "analyzer"] {
		every _, r in data.rulekeeper.tables.shared[license].rows {
			footnoted := object.get(r, "footnote", "") == footnote
			object.get(r, "appOwner", false) == footnoted
		}
	}
}

test_the_tables_name_the_seed_columns if {
	data.rulekeeper.tables.shared.columns == {"owner": "Owner", "admin": "Is admin", "canedit": "Can edit", "canview": "Can view"}
}

# Every row is reachable from the target index, and the index names only rows.
test_every_row_decides_some_request if {
	indexed := {id | some ids in data.rulekeeper.tables.shared.targets[_][_]; some id in ids}
	rows := {id | some license in ["professional", "analyzer"]; some id, _ in data.rulekeeper.tables.shared[license].rows}
	indexed == rows
}

test_the_grant_names_the_row_and_the_column if {
	q := cell_input(["app", "read", "*"], "professional", "canview", false)
	h.decide(q).grants == [{"kind": "table", "id": "shared.app.open", "name": "Open an app (Can view)"}]
}

test_a_member_with_several_roles_gets_a_grant_per_role if {
	q := h.hub(h.subject("professional", {"sp-1": ["owner", "admin"]}), "update", h.space("sp-1", "shared", h.me))
	h.decide(q).grants == [
		{"kind": "table", "id": "shared.space.rename", "name": "Rename the space (Is admin)"},
		{"kind": "table", "id": "shared.space.rename", "name": "Rename the space (Owner)"},
	]
}

test_a_member_reads_the_shared_space_and_a_stranger_does_not if {
	q := h.hub(h.subject("analyzer", {"sp-1": ["canview"]}), "read", h.space("sp-1", "shared", "u-space-owner"))
	h.grant_ids(q) == {"shared.space.member"}
	h.allowed(q)
	h.denied(h.hub(h.subject("professional", {}), "read", h.space("sp-1", "shared", "u-space-owner")))
}

# The member rule reads spaceType and spaceId; without them (empty or
# absent) the fallbacks derive both and grant the same.
test_a_member_reads_the_shared_space_without_the_hot_path_fields if {
	viewer := h.subject("professional", {"sp-1": ["canview"]})
	stranger := h.subject("professional", {})
	full := h.space("sp-1", "shared", "u-space-owner")
	want := {{"kind": "member", "id": "shared.space.member", "name": "Member of the shared space (canview)"}}
	every variant in [
		[{}, []],
		[{"spaceType": ""}, []],
		[{"spaceId": ""}, []],
		[{}, ["resource/spaceType"]],
		[{}, ["resource/spaceId"]],
		[{}, ["resource/spaceId", "resource/spaceType"]],
	] {
		[set_to, removed] := variant
		r := object.union(full, set_to)
		{g | some g in h.decide(json.remove(h.hub(viewer, "read", r), removed)).grants} == want
		h.grant_ids(json.remove(h.console(viewer, "read", r), removed)) == set()
		h.grant_ids(json.remove(h.hub(stranger, "read", r), removed)) == set()
	}
}

test_a_professional_user_creates_a_shared_space_and_an_analyzer_does_not if {
	q := h.hub(h.subject("professional", {}), "create", {"type": "space", "spaceType": "shared"})
	h.grant_ids(q) == {"everyone.create_shared_space"}
	h.allowed(q)
	an := h.hub(h.subject("analyzer", {}), "create", {"type": "space", "spaceType": "shared"})
	h.denied(an)
	h.reasons(an) == {"analyzer_license"}
}

test_nobody_but_a_tenant_admin_creates_a_managed_space if {
	h.denied(h.hub(h.subject("professional", {}), "create", {"type": "space", "spaceType": "managed"}))
}

test_a_move_needs_the_right_on_both_spaces if {
	s := h.subject("professional", {"sp-1": ["canedit"], "sp-2": ["canview"]})
	out := object.union(h.app("a-1", h.other, "sp-1", "shared"), {"targetSpaceId": "sp-2", "targetSpaceType": "shared"})
	h.denied(h.hub(s, "move", out))
	back := object.union(h.app("a-1", h.other, "sp-2", "shared"), {"targetSpaceId": "sp-1", "targetSpaceType": "shared"})
	h.denied(h.hub(s, "move", back))
}

test_a_move_reports_both_rows if {
	s := h.subject("professional", {"sp-1": ["canedit"], "sp-2": ["admin"]})
	r := object.union(h.app("a-1", h.other, "sp-1", "shared"), {"targetSpaceId": "sp-2", "targetSpaceType": "shared"})
	h.grant_ids(h.hub(s, "move", r)) == {"shared.space.move_app_out", "shared.space.move_app_in"}
}

test_the_app_owner_moves_an_app_between_the_personal_space_and_a_shared_space if {
	s := h.subject("professional", {"sp-1": ["canedit"]})
	to_shared := object.union(h.app("a-1", h.me, "", "personal"), {"targetSpaceId": "sp-1", "targetSpaceType": "shared"})
	h.grant_ids(h.hub(s, "move", to_shared)) == {"personal.owner", "shared.space.move_app_in"}
	to_personal := object.union(h.app("a-1", h.me, "sp-1", "shared"), {"targetSpaceType": "personal"})
	h.grant_ids(h.hub(s, "move", to_personal)) == {"personal.owner", "shared.space.move_app_out"}
	not_mine := object.union(h.app("a-1", h.other, "sp-1", "shared"), {"targetSpaceType": "personal"})
	h.denied(h.hub(s, "move", not_mine))
}

test_apps_are_not_moved_into_or_out_of_managed_spaces if {
	s := h.subject("professional", {"sp-1": ["owner"], "m-1": ["owner"]})
	h.denied(h.hub(s, "move", object.union(h.app("a-1", h.me, "sp-1", "shared"), {"targetSpaceId": "m-1", "targetSpaceType": "managed"})))
	h.denied(h.hub(s, "move", object.union(h.app("a-1", h.me, "m-1", "managed"), {"targetSpaceId": "sp-1", "targetSpaceType": "shared"})))
}

test_shared_space_permissions_apply_in_the_hub_only if {
	s := h.subject("professional", {"sp-1": ["owner"]})
	h.denied(h.console(s, "read", h.app("a-1", h.me, "sp-1", "shared")))
	h.denied(h.console(s, "read", h.space("sp-1", "shared", h.me)))
	h.denied(h.console(s, "read", h.app_object("sheet", h.me, false, h.me, "sp-1", "shared")))
}

test_space_permissions_override_app_ownership if {
	# seed §6.7: "If an app is moved to a space that the app owner does not
	# have permission to access, then the app owner cannot access the app."
	h.denied(h.hub(h.subject("professional", {}), "read", h.app("a-1", h.me, "sp-1", "shared")))
}

test_only_the_creator_makes_content_public if {
	s := h.subject("professional", {"sp-1": ["admin"]})
	h.denied(h.hub(s, "make_public", h.app_object("sheet", h.other, false, h.other, "sp-1", "shared")))
	h.allowed(h.hub(s, "make_public", h.app_object("sheet", h.me, false, h.other, "sp-1", "shared")))
}

test_snapshots_are_not_made_private_again_by_the_table if {
	s := h.subject("professional", {"sp-1": ["owner"]})
	h.denied(h.hub(s, "make_private", h.app_object("snapshot", h.me, true, h.me, "sp-1", "shared")))
}

# The hot-path grants rule of shared_spaces.rego leaves out creator_ok,
# which only restricts making content public or private: only app objects
# have those actions in the index.
test_only_app_objects_are_made_public_or_private_in_the_index if {
	found := {[t, a] |
		some part in ["plain", "appOwner"]
		some types in data.rulekeeper.index.shared[part]
		some t, actions in types
		some a, _ in actions
		a in {"make_public", "make_private"}
	}
	count(found) > 0
	every x in found {
		x[0] == "app.object"
	}
}

# The hot-path rule needs resource.spaceId and takes any environment but
# "console" (what environment calls the hub); requests without the space id
# get the same grants through the helpers (space_id, environment).
test_shared_grants_without_the_hot_path_fields if {
	viewer := h.subject("professional", {"sp-1": ["canview"]})
	by_space := {"type": "app", "id": "a-1", "owner": h.other, "spaceType": "shared", "space": {"id": "sp-1", "type": "shared"}}
	h.grant_ids(h.hub(viewer, "read", by_space)) == {"shared.app.open"}
	empty_id := object.union(by_space, {"spaceId": ""})
	h.grant_ids(h.hub(viewer, "read", empty_id)) == {"shared.app.open"}
	no_context := object.remove(h.hub(viewer, "read", h.app("a-1", h.other, "sp-1", "shared")), ["context"])
	h.grant_ids(no_context) == {"shared.app.open"}
	h.grant_ids(h.console(viewer, "read", h.app("a-1", h.other, "sp-1", "shared"))) == set()
	h.grant_ids(h.request(viewer, "read", h.app("a-1", h.other, "sp-1", "shared"), "")) == {"shared.app.open"}
	h.grant_ids(h.request(viewer, "read", h.app("a-1", h.other, "sp-1", "shared"), "HUB")) == {"shared.app.open"}
	h.grant_ids(h.request(viewer, "read", by_space, "HUB")) == {"shared.app.open"}
}

# The app-owner rules of shared_spaces.rego name their requests literally
# (for OPA's rule index): every footnoted row of the index, for every
# license, request and role, must be granted to the app owner through them.
test_app_owner_rules_reach_every_footnoted_row if {
	cells := [[lic, t, a, ot, role, rows] |
		some lic, types in data.rulekeeper.index.shared.appOwner
		some t, actions in types
		some a, objects in actions
		some ot, roles in objects
		some role, rows in roles
	]
	count(cells) > 20
	every cell in cells {
		[lic, t, a, ot, role, rows] := cell
		s := h.subject(lic, {"sp-1": [role]})
		q := h.hub(s, a, footnoted_resource(t, ot))
		got := data.rulekeeper.builtin.grants with input as q
		every g in rows {
			g in got
		}
	}
}

footnoted_resource("app", _) := h.app("a-1", h.me, "sp-1", "shared")

footnoted_resource("app.object", ot) := h.app_object(ot, h.me, true, h.me, "sp-1", "shared")
