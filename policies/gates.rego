# Gates (package rulekeeper.gates): what refuses a request whatever grants
# it (DESIGN.md "Combination"). Each deny is {"kind": "gate", "reason": ...}.
#
#   user_disabled       status "disabled": "that user cannot access their
#                       account or use the product" (seed 000 §1.2). Nothing
#                       is exempt.
#   anonymous           an anonymous subject only ever reads.
#   no_license          no license assigned (seed §1.1, §3). Exempt: reading
#                       oneself (the profile says why nothing else works),
#                       decisions (asking is not using the hub) and
#                       administrators in the console, who need it to apply
#                       the license key and assign licenses (§2, §3).
#   license_excluded    the assignment is excluded because the license is
#                       over-allocated: "no longer have access to the hub or
#                       the management console" (§1.1). Exempt: reading
#                       oneself, decisions.
#   capacity_exhausted  analyzer capacity minutes are spent (§1.1): no hub
#                       use; the console is not consumption and stays open.
#                       Exempt: reading oneself, decisions.
#   analyzer_license    an analyzer (or analyzer capacity) license in the
#                       hub asks for what only the professional table of
#                       §6.7 allows: a request whose table rows are all
#                       absent from the analyzer table, creating a shared
#                       space (§1.3, §6.7) or publishing (§1.3).
#   section_access      an app that uses section access is neither exported
#                       nor duplicated (§6.6).
#
# The license gates (no_license, license_excluded, capacity_exhausted,
# analyzer_license) guard the platform's own resource types: they do not
# apply to the external types registered with licenseGates false
# (data.rulekeeper_types.ungated, put there by the engine from the type
# registry). A ticket of an external ticketing service is not a use of the
# analytics hub. Any other type, known or not, is gated (fail closed).
package rulekeeper.gates

import data.rulekeeper.builtin

# Each deny is written out in its rule's head ({"kind": "gate", "reason":
# ...}): a constant, where a helper function building it would cost every
# refusal a function evaluation.
#
# The four gates on a flag of the subject (user_disabled, anonymous,
# license_excluded, capacity_exhausted) have two bodies each. The engine
# sends input.subject.flagged, true exactly when one of the four flags is
# set (status "disabled", anonymous, license.excluded,
# license.capacityExhausted; CONTRACT.md). The first body asks it, then its
# own flag through a rule of its own (subject_disabled, ...): OPA's rule
# index of denies then has one level for the four rules where it had one
# per flag, which every lookup walked on each branch that passes them on
# its way to the license type and the action (bench/README.md, "The
# gates' subject flags folded"). The second body is for inputs without the
# field (written by hand; stock OPA given the contract's input): `not
# input.subject.flagged` holds when it is absent (or false), and the body
# then asks the flag itself. The engine's compilation leaves the second
# bodies out (authz/prune.go, pruneUnflaggedRules): it always sends the
# field, false only when none of the four flags is set, so they could not
# hold there.
denies contains {"kind": "gate", "reason": "user_disabled"} if {
	input.subject.flagged == true
	subject_disabled
}

denies contains {"kind": "gate", "reason": "user_disabled"} if {
	not input.subject.flagged
	input.subject.status == "disabled"
}

denies contains {"kind": "gate", "reason": "anonymous"} if {
	input.subject.flagged == true
	subject_anonymous
	input.action != "read"
}

denies contains {"kind": "gate", "reason": "anonymous"} if {
	not input.subject.flagged
	input.subject.anonymous == true
	input.action != "read"
}

# no_license reads the license type directly (license_class is "" exactly
# when it is none of the three), which spares a decision the helper rule.
# Two rules: the first, for the empty type (a user without a license, as
# the engine describes one), is the one OPA's rule index picks by the
# equality, and only for those subjects; the second is for any other
# value and for none at all (inputs written by hand). The engine's
# compilation leaves the second out, because it checks every input's type
# against the four values first (authz/prune.go, knownLicense): a rule
# the index cannot leave out (it cannot ask for "none of these values")
# cost every decision of a licensed subject its evaluation.
denies contains {"kind": "gate", "reason": "no_license"} if {
	input.subject.license.type == ""
	not license_exempt
	not admin_in_console
	not ungated
}

denies contains {"kind": "gate", "reason": "no_license"} if {
	not input.subject.license.type == "professional"
	not input.subject.license.type == "analyzer"
	not input.subject.license.type == "analyzer_capacity"
	not input.subject.license.type == ""
	not license_exempt
	not admin_in_console
	not ungated
}

denies contains {"kind": "gate", "reason": "license_excluded"} if {
	input.subject.flagged == true
	license_excluded
	not license_exempt
	not ungated
}

denies contains {"kind": "gate", "reason": "license_excluded"} if {
	not input.subject.flagged
	input.subject.license.excluded == true
	not license_exempt
	not ungated
}

denies contains {"kind": "gate", "reason": "capacity_exhausted"} if {
	input.subject.flagged == true
	capacity_exhausted
	builtin.environment == "hub"
	not license_exempt
	not ungated
}

denies contains {"kind": "gate", "reason": "capacity_exhausted"} if {
	not input.subject.flagged
	input.subject.license.capacityExhausted == true
	builtin.environment == "hub"
	not license_exempt
	not ungated
}

# analyzer_license reads the license type directly (license_class ==
# "analyzer" exactly when it is one of these two), so that the rule index
# leaves this gate out for every other license; and it names the requests
# only the professional table allows (the types and actions of
# data.rulekeeper.index.professionalOnly, creating a shared space,
# publishing an app), so that the index leaves it out of every other request
# of an analyzer, most of which are reads. The names only narrow the lookup
# in professionalOnly that follows them; gates_test.rego checks that they
# cover every request of the index. The hub is read from the input
# directly (builtin.environment is "hub" unless context.environment is
# "console"); license_exempt, which only exempts users and decisions, is
# left out: these are apps, app objects, schedules and spaces. The bodies
# repeat those lines rather than call a helper rule: one evaluation less
# per refusal.
denies contains {"kind": "gate", "reason": "analyzer_license"} if {
	input.subject.license.type in {"analyzer", "analyzer_capacity"}
	input.resource.type == "app"
	input.action in {
		"add_data_files", "create", "duplicate", "edit_data_model",
		"edit_ondemand_links", "move", "reload", "view_data_model",
	}
	data.rulekeeper.index.professionalOnly.app[input.action]["*"]
	not input.context.environment == "console"
	not ungated
}

denies contains {"kind": "gate", "reason": "analyzer_license"} if {
	input.subject.license.type in {"analyzer", "analyzer_capacity"}
	input.resource.type == "app"
	input.action == "publish"
	not input.context.environment == "console"
	not ungated
}

denies contains {"kind": "gate", "reason": "analyzer_license"} if {
	input.subject.license.type in {"analyzer", "analyzer_capacity"}
	input.resource.type == "app.object"
	input.action in {"create", "update", "delete", "make_public", "make_private"}
	data.rulekeeper.index.professionalOnly["app.object"][input.action][builtin.object_type]
	not input.context.environment == "console"
	not ungated
}

denies contains {"kind": "gate", "reason": "analyzer_license"} if {
	input.subject.license.type in {"analyzer", "analyzer_capacity"}
	input.resource.type == "schedule"
	input.action in {"create", "read", "update", "delete"}
	data.rulekeeper.index.professionalOnly.schedule[input.action]["*"]
	not input.context.environment == "console"
	not ungated
}

denies contains {"kind": "gate", "reason": "analyzer_license"} if {
	input.subject.license.type in {"analyzer", "analyzer_capacity"}
	input.resource.type == "space"
	input.action in {"update", "delete", "add_member", "change_role", "manage_members", "remove_member"}
	data.rulekeeper.index.professionalOnly.space[input.action]["*"]
	not input.context.environment == "console"
	not ungated
}

denies contains {"kind": "gate", "reason": "analyzer_license"} if {
	input.subject.license.type in {"analyzer", "analyzer_capacity"}
	input.resource.type == "space"
	input.action == "create"
	builtin.space_type == "shared"
	not input.context.environment == "console"
	not ungated
}

denies contains {"kind": "gate", "reason": "section_access"} if {
	input.resource.type == "app"
	input.action in {"export", "export_data", "duplicate"}
	input.resource.sectionAccess == true
}

# The subject's flags, asked by the first bodies of their gates once
# input.subject.flagged says that one is set.
subject_disabled if input.subject.status == "disabled"

subject_anonymous if input.subject.anonymous == true

license_excluded if input.subject.license.excluded == true

capacity_exhausted if input.subject.license.capacityExhausted == true

# ungated: the request is about a type the license gates do not guard. No
# default (a license gate asks "not ungated"): a default would cost every
# refusal its evaluation besides the lookup.
ungated if data.rulekeeper_types.ungated[input.resource.type] == true

# Requests that do not use a license.
license_exempt if {
	input.resource.type == "user"
	input.action == "read"
	input.resource.id == builtin.subject_id
}

license_exempt if input.resource.type == "decision"

admin_roles := {"TenantAdmin", "RootAdmin", "ContentAdmin", "SecurityAdmin", "AuditAdmin"}

# (builtin.environment is "console" exactly when context.environment is:
# read directly, an equality OPA's rule index checks.)
admin_in_console if {
	input.context.environment == "console"
	some role in input.subject.roles
	role in admin_roles
}
