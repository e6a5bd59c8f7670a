# The combination (decision.rego): union of built-in and security rule
# grants, refused by any gate, fail closed, deterministic output.
package rulekeeper.decision_test

import data.rulekeeper.testing as h

viewer := h.subject("professional", {"sp-1": ["canview"]})

app := h.app("a-1", h.other, "sp-1", "shared")

test_without_a_rules_module_there_are_only_builtin_grants if {
	h.decide(h.hub(viewer, "read", app)).grants == [{"kind": "table", "id": "shared.app.open", "name": "Open an app (Can view)"}]
	h.denied(h.hub(viewer, "reload", app))
}

test_security_rule_grants_join_the_union if {
	rules := {{"kind": "rule", "id": "r-reload", "name": "Viewers reload"}}
	d := h.decide(h.hub(viewer, "reload", app)) with data.rulekeeper.rules.grants as rules
	d == {"allow": true, "grants": [{"kind": "rule", "id": "r-reload", "name": "Viewers reload"}], "denies": []}
}

# allow with a rules module in force (its first body) and without one (its
# second), on every combination of built-in grants, rule grants and gates.
test_allow_is_a_grant_and_no_gate[name] if {
	rule := {{"kind": "rule", "id": "r-1", "name": "r"}}
	disabled := object.union(viewer, {"status": "disabled"})

	# [rule grants, subject, action, allow, allow without a rules module]
	some name, c in {
		"nothing": [set(), viewer, "delete", false, false],
		"a rule": [rule, viewer, "delete", true, false],
		"built in": [set(), viewer, "read", true, true],
		"both": [rule, viewer, "read", true, true],
		"a rule, a gate": [rule, disabled, "delete", false, false],
		"both, a gate": [rule, disabled, "read", false, false],
	}
	[rules, s, action, want, plain] := c
	q := h.hub(s, action, app)
	allow := data.rulekeeper.authz.allow with input as q with data.rulekeeper.rules.grants as rules
	allow == want
	decided := data.rulekeeper.authz.decision with input as q with data.rulekeeper.rules.grants as rules
	decided.allow == want
	without := data.rulekeeper.authz.allow with input as q
	without == plain
}

test_grants_are_sorted if {
	rules := {{"kind": "rule", "id": "r-2", "name": "b"}, {"kind": "rule", "id": "r-1", "name": "a"}}
	d := h.decide(h.hub(viewer, "read", app)) with data.rulekeeper.rules.grants as rules
	[g.id | some g in d.grants] == ["r-1", "r-2", "shared.app.open"]
}

test_no_grant_means_deny if {
	h.decide(h.hub(viewer, "delete", app)) == {"allow": false, "grants": [], "denies": []}
}

test_an_empty_input_is_a_defined_deny if {
	d := data.rulekeeper.authz.decision with input as {}
	d == {"allow": false, "grants": [], "denies": [{"kind": "gate", "reason": "no_license"}]}
}

test_a_sparse_input_is_decided_like_a_full_one if {
	sparse := {
		"subject": {"id": h.me, "license": {"type": "professional"}, "spaces": {"sp-1": ["canview"]}},
		"action": "read",
		"resource": {"type": "app", "id": "a-1", "spaceId": "sp-1", "spaceType": "shared"},
	}
	h.allowed(sparse)
}

test_the_environment_defaults_to_the_hub if {
	q := object.remove(h.hub(viewer, "read", app), ["context"])
	h.allowed(q)
}

# A rules module whose grants are empty decides as no rules module at all:
# the engine decides the requests its rules module cannot grant with a
# copy of this package that does not read data.rulekeeper.rules.grants
# (authz/prune.go, noRulesModule), and stock OPA with the module. Every
# request of a table of subjects (with roles, grants, gates), actions and
# resources in the hub and the console.
test_an_empty_rules_module_decides_as_none[name] if {
	admin := h.with_roles(h.subject("professional", {}), ["TenantAdmin", "ContentAdmin"])
	unlicensed := h.subject("", {})
	disabled := object.union(viewer, {"status": "disabled"})
	managed := h.subject("analyzer", {"sp-2": ["canview"]})
	personal := h.app("a-2", h.me, "", "personal")
	managed_app := h.app("a-3", h.other, "sp-2", "managed")
	sheet := h.app_object("sheet", h.me, false, h.other, "sp-1", "shared")
	space := h.space("sp-1", "shared", h.other)
	some s_name, s in {"viewer": viewer, "admin": admin, "unlicensed": unlicensed, "disabled": disabled, "managed": managed}
	some r_name, r in {"app": app, "personal": personal, "managed": managed_app, "object": sheet, "space": space}
	some action in ["read", "update", "delete", "export", "reload", "create", "publish"]
	some env in ["hub", "console"]
	name := concat(" ", [s_name, action, r_name, env])
	q := h.request(s, action, r, env)
	none := data.rulekeeper.authz.decision with input as q
	empty := data.rulekeeper.authz.decision with input as q with data.rulekeeper.rules.grants as set()
	none == empty
}
