# Gates: what refuses a request whatever grants it (gates.rego).
package rulekeeper.gates_test

import data.rulekeeper.testing as h

member := h.subject("professional", {"sp-1": ["owner"]})

own_app := h.app("a-1", h.me, "sp-1", "shared")

rule_grant := {{"kind": "rule", "id": "r-1", "name": "grant everything"}}

admin := h.with_roles(h.subject("professional", {}), ["TenantAdmin"])

me_as_user := {"type": "user", "id": h.me, "owner": h.me}

test_an_active_licensed_space_owner_passes_every_gate if {
	h.decide(h.hub(member, "reload", own_app)) == {
		"allow": true,
		"grants": [{"kind": "table", "id": "shared.app.reload", "name": "Reload the app (Owner)"}],
		"denies": [],
	}
}

test_a_disabled_user_is_refused_everything_even_themselves if {
	s := object.union(member, {"status": "disabled"})
	q := h.hub(s, "read", own_app)
	h.decide(q) == {
		"allow": false,
		"grants": [{"kind": "table", "id": "shared.app.open", "name": "Open an app (Owner)"}],
		"denies": [{"kind": "gate", "reason": "user_disabled"}],
	}
	h.reasons(h.hub(s, "read", me_as_user)) == {"user_disabled"}
}

test_a_disabled_user_is_refused_what_a_security_rule_grants if {
	s := object.union(member, {"status": "disabled"})
	d := h.decide(h.hub(s, "approve", own_app)) with data.rulekeeper.rules.grants as rule_grant
	d.allow == false
	d.grants == [{"kind": "rule", "id": "r-1", "name": "grant everything"}]
}

test_a_user_without_license_has_no_hub_access if {
	s := h.subject("", {"sp-1": ["owner"]})
	q := h.hub(s, "read", own_app)
	h.denied(q)
	h.reasons(q) == {"no_license"}
}

# no_license reads the license type itself: any type but the three
# licenses is none.
test_an_unknown_license_type_is_no_license if {
	s := object.union(member, {"license": {"type": "enterprise"}})
	h.reasons(h.hub(s, "read", own_app)) == {"no_license"}
	every t in ["professional", "analyzer", "analyzer_capacity"] {
		licensed := object.union(member, {"license": {"type": t}})
		not "no_license" in h.reasons(h.hub(licensed, "read", own_app))
	}
}

test_a_missing_license_object_is_no_license if {
	s := object.remove(member, ["license"])
	h.reasons(h.hub(s, "read", own_app)) == {"no_license"}
}

test_a_user_without_license_still_reads_themselves if {
	s := h.subject("", {})
	h.allowed(h.hub(s, "read", me_as_user))
	h.allowed(h.console(s, "read", me_as_user))
}

test_a_user_without_license_does_not_read_others if {
	s := h.subject("", {})
	h.denied(h.hub(s, "read", {"type": "user", "id": h.other, "owner": h.other}))
}

test_a_tenant_admin_without_license_still_administers_the_console if {
	# seed §2, §3: the license key is applied and licenses are assigned in the
	# console, so an unlicensed administrator must reach it.
	s := h.with_roles(h.subject("", {}), ["TenantAdmin"])
	h.allowed(h.console(s, "update", {"type": "license"}))
	h.allowed(h.console(s, "create", {"type": "license"}))
	h.reasons(h.hub(s, "read", {"type": "theme", "id": "t-1"})) == {"no_license"}
}

test_an_excluded_assignment_loses_hub_and_console if {
	s := h.with_roles(h.with_license(member, {"type": "professional", "excluded": true}), ["TenantAdmin"])
	h.reasons(h.hub(s, "read", own_app)) == {"license_excluded"}
	h.reasons(h.console(s, "read", {"type": "user", "id": h.other})) == {"license_excluded"}
	h.allowed(h.hub(s, "read", me_as_user))
}

test_exhausted_analyzer_capacity_closes_the_hub_but_not_the_console if {
	s := h.with_roles(
		h.with_license(h.subject("analyzer_capacity", {"sp-1": ["canview"]}), {"type": "analyzer_capacity", "excluded": false, "capacityExhausted": true}),
		["TenantAdmin"],
	)
	h.reasons(h.hub(s, "read", h.app("a-1", h.other, "sp-1", "shared"))) == {"capacity_exhausted"}
	h.allowed(h.console(s, "read", {"type": "event"}))
	h.allowed(h.hub(s, "read", me_as_user))
}

test_analyzer_capacity_reads_with_the_analyzer_table if {
	s := h.subject("analyzer_capacity", {"sp-1": ["canview"]})
	h.allowed(h.hub(s, "read", h.app("a-1", h.other, "sp-1", "shared")))
	h.reasons(h.hub(s, "reload", h.app("a-1", h.other, "sp-1", "shared"))) == {"analyzer_license"}
}

test_an_analyzer_is_refused_what_the_analyzer_table_denies_whatever_grants_it if {
	s := h.subject("analyzer", {"sp-1": ["owner"]})
	d := h.decide(h.hub(s, "reload", own_app)) with data.rulekeeper.rules.grants as rule_grant
	d.allow == false
	d.denies == [{"kind": "gate", "reason": "analyzer_license"}]
}

test_an_analyzer_does_not_create_apps_even_in_the_personal_space if {
	s := h.subject("analyzer", {})
	h.reasons(h.hub(s, "create", {"type": "app", "spaceType": "personal"})) == {"analyzer_license"}
}

test_an_analyzer_does_not_publish if {
	s := h.subject("analyzer", {"m-1": ["canpublish"]})
	q := h.hub(s, "publish", object.union(h.app("a-1", h.me, "", "personal"), {"targetSpaceId": "m-1", "targetSpaceType": "managed"}))
	h.reasons(q) == {"analyzer_license"}
}

test_an_analyzer_keeps_what_the_analyzer_table_allows if {
	s := h.subject("analyzer", {"sp-1": ["canview"]})
	h.allowed(h.hub(s, "create", h.app_object("bookmark", h.me, false, h.other, "sp-1", "shared")))
	h.reasons(h.hub(s, "create", h.app_object("sheet", h.me, false, h.other, "sp-1", "shared"))) == {"analyzer_license"}
}

test_the_analyzer_gate_does_not_apply_in_the_console if {
	s := h.with_roles(h.subject("analyzer", {}), ["ContentAdmin"])
	h.allowed(h.console(s, "reload", own_app))
}

test_an_app_with_section_access_is_neither_exported_nor_duplicated if {
	app := object.union(own_app, {"sectionAccess": true})
	every action in ["export", "export_data", "duplicate"] {
		h.reasons(h.hub(member, action, app)) == {"section_access"}
	}
	h.allowed(h.hub(member, "read", app))
	h.allowed(h.hub(member, "export", own_app))
}

test_an_anonymous_subject_only_reads if {
	s := object.union(member, {"anonymous": true})
	h.allowed(h.hub(s, "read", own_app))
	h.reasons(h.hub(s, "update", own_app)) == {"anonymous"}
}

test_decisions_do_not_use_a_license if {
	s := h.with_roles(h.subject("", {}), ["AuthzClient"])
	h.allowed(h.hub(s, "read", {"type": "decision", "id": h.other}))
}

test_several_gates_are_all_reported_sorted if {
	s := object.union(h.with_license(member, {"type": "analyzer", "excluded": true, "capacityExhausted": true}), {"status": "disabled"})
	h.decide(h.hub(s, "reload", own_app)).denies == [
		{"kind": "gate", "reason": "analyzer_license"},
		{"kind": "gate", "reason": "capacity_exhausted"},
		{"kind": "gate", "reason": "license_excluded"},
		{"kind": "gate", "reason": "user_disabled"},
	]
}

# External resource types (the type registry): the license gates guard the
# platform's own types, and external types unless registered with
# licenseGates false (data.rulekeeper_types.ungated, put there by the engine).

ticket := {"type": "ticket", "id": "T-17", "owner": h.other, "attributes": {"department": ["Support"]}}

ticket_types := {"ungated": {"ticket": true}}

gated_ticket_types := {"ungated": {"invoice": true}}

test_no_license_gate_for_an_external_type_without_license_gates if {
	s := h.subject("", {})
	q := h.hub(s, "close", ticket)
	d := h.decide(q) with data.rulekeeper.rules.grants as rule_grant with data.rulekeeper_types as ticket_types
	d.allow == true
	d.denies == []
}

test_a_type_the_registry_does_not_exempt_is_gated if {
	s := h.subject("", {})
	d := h.decide(h.hub(s, "close", ticket)) with data.rulekeeper.rules.grants as rule_grant
	d.allow == false
	d.denies == [{"kind": "gate", "reason": "no_license"}]
}

test_excluded_and_exhausted_licenses_do_not_gate_external_types if {
	s := h.with_license(h.subject("analyzer_capacity", {}), {"type": "analyzer_capacity", "excluded": true, "capacityExhausted": true})
	d := h.decide(h.hub(s, "close", ticket)) with data.rulekeeper.rules.grants as rule_grant with data.rulekeeper_types as ticket_types
	d.allow == true
}

test_an_external_type_with_license_gates_is_gated if {
	s := h.subject("", {})
	q := h.hub(s, "close", ticket)
	d := h.decide(q) with data.rulekeeper.rules.grants as rule_grant with data.rulekeeper_types as gated_ticket_types
	d.allow == false
	d.denies == [{"kind": "gate", "reason": "no_license"}]
	x := h.with_license(h.subject("professional", {}), {"type": "professional", "excluded": true})
	d2 := h.decide(h.hub(x, "close", ticket)) with data.rulekeeper.rules.grants as rule_grant with data.rulekeeper_types as gated_ticket_types
	d2.denies == [{"kind": "gate", "reason": "license_excluded"}]
}

test_a_disabled_user_is_refused_on_external_types_too if {
	s := object.union(member, {"status": "disabled"})
	d := h.decide(h.hub(s, "close", ticket)) with data.rulekeeper.rules.grants as rule_grant with data.rulekeeper_types as ticket_types
	d.allow == false
	d.denies == [{"kind": "gate", "reason": "user_disabled"}]
}

test_registering_gates_for_an_external_type_does_not_ungate_builtin_types if {
	s := h.subject("", {"sp-1": ["owner"]})
	q := h.hub(s, "read", own_app)
	reasons := h.reasons(q) with data.rulekeeper_types as {"ungated": {"ticket": true, "": true}}
	reasons == {"no_license"}
}

# The analyzer_license rules name the types and actions that only the
# professional table allows, for OPA's rule index: every request of the
# professionalOnly index, creating a shared space and publishing an app
# must still be refused to both analyzer licenses in the hub.
test_analyzer_license_rules_reach_every_professional_only_request if {
	requests := [[t, a, ot] |
		some t, actions in data.rulekeeper.index.professionalOnly
		some a, objects in actions
		some ot, _ in objects
	]
	count(requests) > 20
	every lic in ["analyzer", "analyzer_capacity"] {
		s := h.subject(lic, {"sp-1": ["owner"]})
		every r in requests {
			[t, a, ot] := r
			"analyzer_license" in h.reasons(h.hub(s, a, professional_only_resource(t, ot)))
		}
		"analyzer_license" in h.reasons(h.hub(s, "create", {"type": "space", "spaceType": "shared"}))
		"analyzer_license" in h.reasons(h.hub(s, "publish", h.app("a-1", h.me, "", "personal")))
	}
}

professional_only_resource("app.object", ot) := h.app_object(ot, h.me, false, h.me, "sp-1", "shared")

professional_only_resource(t, "*") := object.union(h.app("a-1", h.me, "sp-1", "shared"), {"type": t})

# The second no_license rule (any type but the four) has the exemptions of
# the first: an unknown license type reads itself and administers the
# console as no license does.
test_an_unknown_license_type_has_the_exemptions_of_no_license if {
	s := object.union(member, {"license": {"type": "enterprise"}})
	not "no_license" in h.reasons(h.hub(s, "read", {"type": "user", "id": s.id}))
	admin := object.union(s, {"roles": ["TenantAdmin"]})
	h.allowed(h.console(admin, "update", {"type": "license"}))
}

# The engine sends input.subject.flagged (true exactly when one of the four
# flags is set): the gates' first bodies ask it, their second bodies serve
# inputs without it. Both forms of every flagged subject are refused for the
# same reasons, on reads and writes, in the hub and in the console.
flag_cases := [
	{"status": "disabled"},
	{"anonymous": true},
	{"license": {"type": "analyzer_capacity", "excluded": true, "capacityExhausted": false}},
	{"license": {"type": "analyzer_capacity", "excluded": false, "capacityExhausted": true}},
	{"status": "disabled", "anonymous": true, "license": {"type": "professional", "excluded": true, "capacityExhausted": true}},
]

test_flagged_subjects_are_refused_alike_with_and_without_the_field if {
	every c in flag_cases {
		s := object.union(member, c)
		every q in [
			h.hub(s, "read", own_app), h.hub(s, "update", own_app),
			h.console(s, "update", own_app), h.hub(s, "read", me_as_user),
		] {
			without := h.reasons(q)
			with_field := h.reasons(object.union(q, {"subject": {"flagged": true}}))
			with_field == without
		}
	}
}

# Each case is refused for its own flags (the test above would hold for
# gates that refuse nothing).
test_flagged_subjects_are_refused_for_their_flags if {
	want := [
		{"user_disabled"},
		{"anonymous"},
		{"license_excluded"},
		{"capacity_exhausted"},
		{"user_disabled", "anonymous", "license_excluded", "capacity_exhausted"},
	]
	every i, c in flag_cases {
		s := object.union(member, c)
		q := object.union(h.hub(s, "update", own_app), {"subject": {"flagged": true}})
		h.reasons(q) == want[i]
	}
}

# flagged is what the engine computed from the flags: flagged true alone
# refuses nothing (each gate asks its flag as well), and flagged false
# with no flag set refuses nothing either.
test_flagged_alone_refuses_nothing if {
	every flagged in [true, false] {
		s := object.union(member, {"flagged": flagged})
		h.reasons(h.hub(s, "update", own_app)) == set()
	}
}
