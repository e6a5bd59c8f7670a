# Reloading apps and their reload schedules in every space type, for every
# role, license and app ownership (issue 17):
#
#   shared    §6.7 table row "Reload the app" (Owner, Is admin, Can edit:
#             Yes; Can view: No; professional table only) and §6.7
#             "Reloading apps in a shared space": "Users with Owner, Is
#             admin, and Can edit permissions can manually reload apps and
#             create scheduled reloads in the space" — the role decides,
#             not who owns the app.
#   personal  §5.2 "You can only reload apps you own"; §6.8 "In personal
#             spaces, only the owner can edit apps".
#   managed   managed_spaces.json: Owner, Can manage and Can operate.
#
# The expectations are written out here, independently of the tables the
# policy reads. Analyzer licenses lack the row: the analyzer_license gate
# refuses them in the hub; no license is refused by no_license.
package rulekeeper.reload_test

import data.rulekeeper.testing as h

licenses := ["professional", "analyzer", "analyzer_capacity", ""]

roles := {
	"shared": ["owner", "admin", "canedit", "canview", "none"],
	"managed": [
		"owner", "canmanage", "canpublish", "cancontribute", "canview",
		"hasrestrictedview", "canconsumedata", "canoperate", "none",
	],
	"personal": ["none"],
}

reloaders := {
	"shared": {"owner", "admin", "canedit"},
	"managed": {"owner", "canmanage", "canoperate"},
	"personal": set(),
}

space_id := {"shared": "sp-1", "managed": "m-1", "personal": ""}

# The requests "Reload the app" decides: the reload itself and creating,
# reading, editing and deleting the app's reload schedules.
requests := [
	["app", "reload"],
	["schedule", "create"],
	["schedule", "read"],
	["schedule", "update"],
	["schedule", "delete"],
]

default expected(_, _, _, _) := false

expected(space_type, role, "professional", _) if role in reloaders[space_type]

expected("personal", _, "professional", true)

subject_of(space_type, role, license) := h.subject(license, {space_id[space_type]: [role]}) if role != "none"

else := h.subject(license, {})

resource_of("app", space_type, app_owner) := h.app("a-1", owner_of(app_owner), space_id[space_type], space_type)

resource_of("schedule", space_type, app_owner) := h.schedule(owner_of(app_owner), space_id[space_type], space_type)

owner_of(true) := h.me

owner_of(false) := h.other

denial_reason("") := "no_license"

denial_reason(license) := "analyzer_license" if license in {"analyzer", "analyzer_capacity"}

test_reload_and_schedules_by_space_type_role_license_and_ownership[name] if {
	some space_type, rs in roles
	some role in rs
	some license in licenses
	some app_owner in [true, false]
	some req in requests
	name := sprintf("%s %s: %s with %q, app owner %v", [req[0], req[1], role, license, app_owner])
	q := h.hub(subject_of(space_type, role, license), req[1], resource_of(req[0], space_type, app_owner))
	d := h.decide(q)
	want := expected(space_type, role, license, app_owner)
	d.allow == want
	refusal_ok(d, want, license)
}

refusal_ok(_, true, _)

# An allowed row for another license is refused by the license gate, and
# nothing else refuses.
refusal_ok(d, false, license) if {
	license != "professional"
	{x.reason | some x in d.denies} == {denial_reason(license)}
}

refusal_ok(d, false, "professional") if count(d.denies) == 0

# The grant names the row and the column of the role that granted it.
test_a_can_edit_member_reloads_an_app_somebody_else_owns if {
	s := h.subject("professional", {"sp-1": ["canedit"]})
	h.decide(h.hub(s, "reload", h.app("a-1", h.other, "sp-1", "shared"))).grants == [{"kind": "table", "id": "shared.app.reload", "name": "Reload the app (Can edit)"}]
	h.grant_ids(h.hub(s, "update", h.schedule(h.other, "sp-1", "shared"))) == {"shared.app.reload"}
}

# Space permissions override app ownership (§6.7): the app owner demoted to
# Can view no longer reloads.
test_the_app_owner_with_can_view_does_not_reload if {
	s := h.subject("professional", {"sp-1": ["canview"]})
	h.denied(h.hub(s, "reload", h.app("a-1", h.me, "sp-1", "shared")))
	h.denied(h.hub(s, "create", h.schedule(h.me, "sp-1", "shared")))
}
