# The vocabulary (vocabulary.json) names every resource type, object type
# and action the tables use, and every seed row has its action.
package rulekeeper.vocabulary_test

import data.rulekeeper.tables
import data.rulekeeper.vocabulary

api_actions := {
	"create", "read", "update", "delete", "export", "export_data", "publish", "duplicate", "move",
	"reload", "change_owner", "change_role", "manage_members", "access_offline", "approve", "allow_access",
}

api_types := {
	"user", "group", "space", "app", "app.object", "schedule", "extension", "theme", "apikey",
	"webintegration", "license", "settings", "event", "rule",
}

used_actions contains t[1] if some t in walk_targets

used_actions contains action if {
	some table in ["managed", "personal"]
	some role in tables[table].roles
	some type, actions in role
	type != "name"
	some action, _ in actions
}

used_actions contains action if {
	some role in tables.roles
	some kind in ["grants", "own"]
	some by_type in object.get(role, kind, {})
	some actions in by_type
	some action in actions
	action != "*"
}

used_actions contains row.action if {
	some license in ["professional", "analyzer"]
	some row in tables.shared[license].rows
}

walk_targets contains [type, action, ot] if {
	some type, by_action in tables.shared.targets
	some action, by_object in by_action
	some ot, _ in by_object
}

used_types contains t[0] if some t in walk_targets

used_types contains type if {
	some role in tables.roles
	some kind in ["grants", "own"]
	some by_type in object.get(role, kind, {})
	some type, _ in by_type
	type != "*"
}

test_the_api_actions_are_all_in_the_vocabulary if {
	every action in api_actions {
		vocabulary.actions[action]
	}
}

test_the_api_resource_types_are_all_in_the_vocabulary if {
	every type in api_types {
		vocabulary.resourceTypes[type]
	}
}

test_every_action_the_tables_use_is_in_the_vocabulary if {
	every action in used_actions {
		vocabulary.actions[action].description != ""
	}
}

test_every_resource_type_the_tables_use_is_in_the_vocabulary if {
	every type in used_types {
		vocabulary.resourceTypes[type] != ""
	}
}

test_every_object_type_the_tables_use_is_in_the_vocabulary if {
	every t in walk_targets {
		t[2] in object.keys(object.union(vocabulary.objectTypes, {"*": ""}))
	}
}

test_every_seed_row_is_named_by_an_action if {
	documented := {row | some a in vocabulary.actions; some row in a.rows}
	every license in ["professional", "analyzer"] {
		every r in tables.shared[license].rows {
			r.row in documented
			r.row in vocabulary.actions[r.action].rows
		}
	}
}

test_the_vocabulary_documents_only_seed_rows if {
	rows := {r.row | some license in ["professional", "analyzer"]; some r in tables.shared[license].rows}
	every a in vocabulary.actions {
		every row in a.rows {
			row in rows
		}
	}
}

test_the_vocabulary_names_the_space_roles_of_the_api if {
	object.keys(vocabulary.spaceRoles.shared) == {"owner", "admin", "canedit", "canview"}
	object.keys(vocabulary.spaceRoles.managed) == {"owner", "canmanage", "canpublish", "cancontribute", "canview", "hasrestrictedview", "canconsumedata", "canoperate"}
	object.keys(tables.managed.roles) == object.keys(vocabulary.spaceRoles.managed)
}
