# The AuthZEN certification fixture's policy (scenario section "Required Fixture";
# the rules in prose are in ../README.md). Verdict's AuthZEN edge gives the policy
# the request's entities as input.authzen: subject, resource and action, with the
# directory's stored properties merged under the request's (request values win)
# and `known` telling whether the directory has the entity.
package verdict

subject := input.authzen.subject

resource := input.authzen.resource

action := input.authzen.action

known_user if {
	subject.type == "user"
	subject.known
}

known_record if {
	resource.type == "record"
	resource.known
}

# Rule 1: any known user reads any known record.
permitted if {
	action.name == "read"
	known_user
	known_record
}

# Rule 2: writes, on known records only.
permitted if {
	action.name == "write"
	may_write
}

# Rule 3: only a soft delete, and only by someone who may write the record.
permitted if {
	action.name == "delete"
	action.properties.soft == true
	may_write
}

# Archived records: admins only. The admin privilege stops there, so bob (stored
# role admin) may not write the active record-1 (decision rule 4).
may_write if {
	known_user
	known_record
	resource.properties.status == "archived"
	subject.properties.role == "admin"
}

# Active records: alice, their editor.
may_write if {
	known_user
	known_record
	resource.properties.status == "active"
	subject.id == "alice"
}

# METADATA
# entrypoint: true
# description: The decision for one AuthZEN evaluation (docs/policies.md output contract).
decision := {"effect": "allow", "reasons": []} if permitted

decision := {"effect": "deny", "reasons": [denial]} if not permitted

# Context never changes a decision (scenario c-1-6); reasons say why it is false.
denial := {"code": "authzen_only", "message": "this policy answers AuthZEN evaluations only"} if not input.authzen

else := {"code": "unknown_subject", "message": "the subject is not a known user"} if not known_user

else := {"code": "unknown_resource", "message": "the resource is not a known record"} if not known_record

else := {"code": "not_permitted", "message": sprintf("%s may not %s %s", [subject.id, action.name, resource.id])}

# METADATA
# entrypoint: true
# description: No real-time state is needed.
state_queries := []
