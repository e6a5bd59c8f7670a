# Managed spaces (managed_spaces.rego, managed_spaces.json): every role
# against the requests of the managed-space grants, from an independent
# literal list, plus publishing.
package rulekeeper.managed_spaces_test

import data.rulekeeper.testing as h

all_roles := ["owner", "canmanage", "canpublish", "cancontribute", "canview", "hasrestrictedview", "canconsumedata", "canoperate", "none"]

managers := ["owner", "canmanage"]

app_readers := ["owner", "canmanage", "canpublish", "cancontribute", "canview", "hasrestrictedview", "canoperate"]

content_creators := ["owner", "canmanage", "canpublish", "cancontribute", "canview"]

operators := ["owner", "canmanage", "canoperate"]

# request [type, action, objectType or "*", object creator] → roles allowed.
expected := {
	"read the space": [["space", "read", "*", ""], ["owner", "canmanage", "canpublish", "cancontribute", "canview", "hasrestrictedview", "canconsumedata", "canoperate"]],
	"rename the space": [["space", "update", "*", ""], managers],
	"delete the space": [["space", "delete", "*", ""], managers],
	"manage members": [["space", "manage_members", "*", ""], managers],
	"add members": [["space", "add_member", "*", ""], managers],
	"change member roles": [["space", "change_role", "*", ""], managers],
	"remove members": [["space", "remove_member", "*", ""], managers],
	"change the space owner": [["space", "change_owner", "*", ""], []],
	"open an app": [["app", "read", "*", ""], app_readers],
	"create an app": [["app", "create", "*", ""], []],
	"edit app attributes": [["app", "update", "*", ""], managers],
	"delete an app": [["app", "delete", "*", ""], managers],
	"export an app": [["app", "export", "*", ""], managers],
	"export an app with data": [["app", "export_data", "*", ""], managers],
	"change the app owner": [["app", "change_owner", "*", ""], managers],
	"edit app properties": [["app", "edit_properties", "*", ""], managers],
	"edit on-demand links": [["app", "edit_ondemand_links", "*", ""], managers],
	"reload an app": [["app", "reload", "*", ""], operators],
	"duplicate an app": [["app", "duplicate", "*", ""], ["owner", "canmanage", "canpublish"]],
	"view the data model": [["app", "view_data_model", "*", ""], ["owner", "canmanage", "canpublish", "cancontribute"]],
	"edit the data model": [["app", "edit_data_model", "*", ""], []],
	"add data files": [["app", "add_data_files", "*", ""], []],
	"take a snapshot": [["app", "take_snapshot", "*", ""], content_creators],
	"view on-demand links": [["app", "view_ondemand_links", "*", ""], content_creators],
	"open on-demand selection apps": [["app", "open_ondemand_selection", "*", ""], content_creators],
	"generate on-demand apps": [["app", "generate_ondemand", "*", ""], content_creators],
	"add a private sheet": [["app.object", "create", "sheet", "u-me"], content_creators],
	"add a private bookmark": [["app.object", "create", "bookmark", "u-me"], content_creators],
	"add a private story": [["app.object", "create", "story", "u-me"], content_creators],
	"add a snapshot": [["app.object", "create", "snapshot", "u-me"], content_creators],
	"create a master item": [["app.object", "create", "masteritem", "u-me"], managers],
	"create a variable": [["app.object", "create", "variable", "u-me"], managers],
	"create media": [["app.object", "create", "media", "u-me"], managers],
	"edit a master item": [["app.object", "update", "masteritem", "u-other"], managers],
	"delete somebody's public sheet": [["app.object", "delete", "sheet", "u-other"], managers],
	"make my sheet public": [["app.object", "make_public", "sheet", "u-me"], ["owner", "canmanage", "canpublish", "cancontribute"]],
	"make my snapshot public": [["app.object", "make_public", "snapshot", "u-me"], ["owner", "canmanage", "canpublish", "cancontribute"]],
	"make my sheet private": [["app.object", "make_private", "sheet", "u-me"], ["owner", "canmanage", "canpublish", "cancontribute"]],
	"make somebody's sheet public": [["app.object", "make_public", "sheet", "u-other"], []],
	"read a public sheet": [["app.object", "read", "sheet", "u-other"], app_readers],
	"read a master item": [["app.object", "read", "masteritem", "u-other"], app_readers],
	"create a reload schedule": [["schedule", "create", "*", ""], operators],
	"read a reload schedule": [["schedule", "read", "*", ""], operators],
	"edit a reload schedule": [["schedule", "update", "*", ""], operators],
	"delete a reload schedule": [["schedule", "delete", "*", ""], operators],
}

roles_in(role) := {"m-1": [role]} if role != "none"

else := {}

resource(["space", _, _, _]) := h.space("m-1", "managed", "u-space-owner")

resource(["app", "create", _, _]) := {"type": "app", "spaceId": "m-1", "spaceType": "managed"}

resource(["app", action, _, _]) := h.app("a-1", h.other, "m-1", "managed") if action != "create"

resource(["app.object", _, ot, creator]) := h.app_object(ot, creator, true, h.other, "m-1", "managed")

resource(["schedule", _, _, _]) := h.schedule(h.other, "m-1", "managed")

test_every_managed_space_role_gets_exactly_its_grants[name] if {
	some what, [req, allowed_roles] in expected
	some role in all_roles
	name := sprintf("%s as %s", [what, role])
	q := h.hub(h.subject("professional", roles_in(role)), req[1], resource(req))
	want := role in allowed_roles
	h.decide(q).allow == want
}

test_a_managed_grant_names_the_role if {
	q := h.hub(h.subject("professional", {"m-1": ["canoperate"]}), "reload", h.app("a-1", h.other, "m-1", "managed"))
	h.decide(q).grants == [{"kind": "managed", "id": "managed.canoperate", "name": "Can operate in a managed space"}]
}

test_a_private_object_in_a_managed_app_stays_with_its_creator if {
	s := h.subject("professional", {"m-1": ["canmanage"]})
	h.denied(h.hub(s, "read", h.app_object("sheet", h.other, false, h.other, "m-1", "managed")))
	h.allowed(h.hub(s, "read", h.app_object("sheet", h.me, false, h.other, "m-1", "managed")))
}

published(app, target) := object.union(app, {"targetSpaceId": target, "targetSpaceType": "managed"})

test_the_app_owner_publishes_from_the_personal_space_with_a_publishing_role if {
	q := h.hub(h.subject("professional", {"m-1": ["canpublish"]}), "publish", published(h.app("a-1", h.me, "", "personal"), "m-1"))
	h.grant_ids(q) == {"personal.owner", "managed.canpublish"}
	h.allowed(q)
}

test_a_can_edit_member_publishes_from_a_shared_space if {
	q := h.hub(h.subject("professional", {"sp-1": ["canedit"], "m-1": ["canmanage"]}), "publish", published(h.app("a-1", h.other, "sp-1", "shared"), "m-1"))
	h.grant_ids(q) == {"shared.space.publish_from", "managed.canmanage"}
}

test_a_can_view_member_does_not_publish_from_a_shared_space if {
	h.denied(h.hub(h.subject("professional", {"sp-1": ["canview"], "m-1": ["owner"]}), "publish", published(h.app("a-1", h.other, "sp-1", "shared"), "m-1")))
}

test_publishing_needs_a_publishing_role_in_the_target_space if {
	s := h.subject("professional", {"m-1": ["cancontribute"], "m-2": ["owner"]})
	h.denied(h.hub(s, "publish", published(h.app("a-1", h.me, "", "personal"), "m-1")))
	h.denied(h.hub(s, "publish", object.union(h.app("a-1", h.me, "", "personal"), {"targetSpaceId": "m-2", "targetSpaceType": "shared"})))
}

test_nobody_publishes_somebody_elses_personal_app if {
	h.denied(h.hub(h.subject("professional", {"m-1": ["owner"]}), "publish", published(h.app("a-1", h.other, "", "personal"), "m-1")))
}

test_managed_space_roles_do_not_apply_in_the_console if {
	h.denied(h.console(h.subject("professional", {"m-1": ["owner"]}), "read", h.app("a-1", h.other, "m-1", "managed")))
}

test_a_managed_space_type_is_read_from_the_related_space if {
	r := object.union(h.app("a-1", h.other, "m-1", ""), {"space": {"id": "m-1", "type": "managed", "owner": "u-x"}})
	h.allowed(h.hub(h.subject("professional", {"m-1": ["canview"]}), "read", r))
}

# The hot-path grants rule of managed_spaces.rego leaves out creator_ok,
# which only restricts making content public or private: only app objects
# have those actions in the index.
test_only_app_objects_are_made_public_or_private_in_the_managed_index if {
	found := {[t, a] |
		some types in data.rulekeeper.index.managed
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
# "console"; requests without the space id get the same grants through the
# helpers.
test_managed_grants_without_the_hot_path_fields if {
	viewer := h.subject("professional", {"sp-1": ["canview"]})
	by_space := {"type": "app", "id": "a-1", "owner": h.other, "spaceType": "managed", "space": {"id": "sp-1", "type": "managed"}}
	ids := {"managed.canview"}
	h.grant_ids(h.hub(viewer, "read", by_space)) == ids
	h.grant_ids(h.hub(viewer, "read", object.union(by_space, {"spaceId": ""}))) == ids
	h.grant_ids(h.hub(viewer, "read", object.union(by_space, {"spaceId": "sp-1"}))) == ids
	h.grant_ids(h.request(viewer, "read", object.union(by_space, {"spaceId": "sp-1"}), "")) == ids
	h.grant_ids(h.console(viewer, "read", object.union(by_space, {"spaceId": "sp-1"}))) == set()
}
