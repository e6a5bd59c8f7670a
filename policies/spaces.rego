# Space grants for inputs that do not name the space type (package
# rulekeeper.builtin).
#
# The shared, personal and managed space rules key on
# input.resource.spaceType == "shared" | "personal" | "managed", which OPA's
# rule index resolves without evaluating the others. Callers that describe a
# resource without spaceType (only its related space, or no space at all for
# personal content) get the same grants here, with the type derived by
# space_type (common.rego).
package rulekeeper.builtin

# The engine always sends spaceType: the equality lets OPA's rule index
# leave this rule out of every decision on a resource whose space type is
# known.
grants contains g if {
	input.resource.spaceType == ""
	some g in derived_grants
}

# Inputs without spaceType at all (written by hand). Stock OPA enters this
# rule on every decision (the rule index cannot ask for an absent field);
# "not" fails at once when it is there. The engine leaves it and the other
# `not input.resource.spaceType` / `not input.resource.spaceId` rules out of
# its own compilation: its inputs always carry both (authz/prune.go).
# (Measured against one object.get call instead: fewer allocations, but
# more CPU per decision.)
grants contains g if {
	not input.resource.spaceType
	object.get(input.resource, "spaceType", "") == ""
	some g in derived_grants
}

derived_grants contains g if {
	input.resource.type in {"space", "app", "app.object", "schedule"}
	input.action != "move"
	input.action != "publish"
	creator_ok
	some g in derived_space_grants
}

# Members reading their shared space (shared_spaces.rego).
derived_grants contains g if {
	input.resource.type == "space"
	input.action == "read"
	some g in derived_member_grant
}

derived_space_grants := shared_target_grants(input.resource.type, input.action, object_type) if {
	space_type == "shared"
} else := personal_grants(input.resource.type, input.action, object_type) if {
	space_type == "personal"
} else := managed_grants(input.resource.type, input.action, object_type)
