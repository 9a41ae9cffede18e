# The AuthZEN interop "Todo" scenario (../README.md). The PEP names the user (the
# `sub` of its bearer token) as subject.id; the user's email and roles come from
# Verdict's directory (directory.json), merged into input.authzen.subject.properties.
package verdict

subject := input.authzen.subject

roles := {role | some role in object.get(subject.properties, "roles", [])}

# Editors, admins and evil geniuses edit: create todos, and update or delete their own.
editor if {
	some role in roles
	role in {"editor", "admin", "evil_genius"}
}

# A todo is the user's when its ownerID is the user's email.
owner if {
	email := subject.properties.email
	input.authzen.resource.properties.ownerID == email
}

permitted if input.action == "can_read_user"

permitted if input.action == "can_read_todos"

permitted if {
	input.action == "can_create_todo"
	editor
}

permitted if {
	input.action == "can_update_todo"
	"evil_genius" in roles
}

permitted if {
	input.action in {"can_update_todo", "can_delete_todo"}
	editor
	owner
}

permitted if {
	input.action == "can_delete_todo"
	"admin" in roles
}

# METADATA
# entrypoint: true
# description: The decision for one AuthZEN evaluation of the Todo scenario.
decision := {"effect": "allow", "reasons": []} if permitted

decision := {"effect": "deny", "reasons": [denial]} if not permitted

denial := {"code": "authzen_only", "message": "this policy answers AuthZEN evaluations only"} if not input.authzen

else := {"code": "role_required", "message": sprintf("%s needs an editor role", [input.action])} if {
	input.action == "can_create_todo"
}

else := {"code": "not_owner", "message": sprintf("%s is allowed on the user's own todos only", [input.action])} if {
	input.action in {"can_update_todo", "can_delete_todo"}
	editor
}

else := {"code": "role_required", "message": sprintf("%s needs another role", [input.action])} if {
	input.action in {"can_update_todo", "can_delete_todo"}
}

else := {"code": "unknown_permission", "message": sprintf("%s is not a permission of the Todo application", [input.action])}

# METADATA
# entrypoint: true
# description: No real-time state is needed.
state_queries := []
