# Test helpers: inputs shaped like the ones the Go engine builds (every
# field present, CONTRACT.md) and shortcuts to the decision.
package rulekeeper.testing

me := "u-me"

other := "u-other"

# subject(license, spaces): an active user holding license with the given
# effective space roles.
subject(license, spaces) := {
	"id": me,
	"name": "me",
	"email": "me@example.com",
	"status": "active",
	"anonymous": false,
	"roles": [],
	"groups": ["Sales"],
	"groupIds": ["g-sales"],
	"license": {"type": license, "excluded": false, "capacityExhausted": false},
	"attributes": {},
	"spaces": spaces,
}

# with_roles(s, roles): subject s holding admin roles.
with_roles(s, roles) := object.union(s, {"roles": roles})

# with_license(s, license): subject s with another license object.
with_license(s, license) := object.union(s, {"license": license})

empty_resource := {
	"type": "",
	"id": "",
	"name": "",
	"owner": "",
	"spaceId": "",
	"spaceType": "",
	"objectType": "",
	"public": false,
	"sectionAccess": false,
	"targetSpaceId": "",
	"targetSpaceType": "",
	"attributes": {},
}

# request(s, action, resource, env): a complete input.
request(s, action, resource, env) := {
	"subject": s,
	"action": action,
	"resource": object.union(empty_resource, resource),
	"context": {"environment": env},
}

hub(s, action, resource) := request(s, action, resource, "hub")

console(s, action, resource) := request(s, action, resource, "console")

# Resources.
app(id, owner, space_id, space_type) := {
	"type": "app",
	"id": id,
	"owner": owner,
	"spaceId": space_id,
	"spaceType": space_type,
}

app_object(object_type, creator, public, app_owner, space_id, space_type) := {
	"type": "app.object",
	"id": "o-1",
	"objectType": object_type,
	"owner": creator,
	"public": public,
	"spaceId": space_id,
	"spaceType": space_type,
	"app": {"id": "a-1", "name": "Q4", "owner": app_owner, "spaceId": space_id},
}

schedule(app_owner, space_id, space_type) := {
	"type": "schedule",
	"id": "s-1",
	"owner": app_owner,
	"spaceId": space_id,
	"spaceType": space_type,
	"app": {"id": "a-1", "name": "Q4", "owner": app_owner, "spaceId": space_id},
}

space(id, space_type, owner) := {
	"type": "space",
	"id": id,
	"owner": owner,
	"spaceId": id,
	"spaceType": space_type,
	"space": {"id": id, "name": id, "type": space_type, "owner": owner},
}

# decide(q): the decision for input in (no security rules loaded).
decide(q) := d if {
	d := data.rulekeeper.authz.decision with input as q
}

allowed(q) if decide(q).allow == true

denied(q) if decide(q).allow == false

grant_ids(q) := {g.id | some g in decide(q).grants}

grant_kinds(q) := {g.kind | some g in decide(q).grants}

reasons(q) := {d.reason | some d in decide(q).denies}
