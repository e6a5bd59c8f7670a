package store

import "slices"

// Role sources of RoleSources.
const (
	RoleSourceIdP        = "idp"
	RoleSourceRulekeeper = "rulekeeper"
)

// RoleSources says where each of the user's roles comes from: "idp" (the
// identity provider's roles claim, re-applied at every login) or
// "rulekeeper" (given by an admin, the bootstrap or the first login).
func (u *User) RoleSources() map[string]string {
	m := make(map[string]string, len(u.Roles))
	for _, r := range u.Roles {
		m[r] = RoleSourceRulekeeper
		if slices.Contains(u.IdpRoles, r) {
			m[r] = RoleSourceIdP
		}
	}
	return m
}
