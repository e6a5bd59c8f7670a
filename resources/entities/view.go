package entities

import (
	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// AppView is the policy's view of a stored app without its space (what
// Source.App adds from the space: its type and the related space): the
// fields a list filter reads (resources/pushdown.AppFields).
func AppView(a *store.App) *authz.Resource {
	r := &authz.Resource{
		Type: "app", ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID,
		SectionAccess: a.SectionAccess, Attributes: appAttributes(a),
	}
	if a.SpaceID == "" {
		r.SpaceType = store.SpacePersonal
	}
	return r
}
