# Delegation (RFC 8693 act chains, data.settings.delegation). A chain deeper than
# max_depth is denied, and so is any actor not in allowed_actors. An actor is
# named by its client_id when the act claim has one, else by its sub.
package verdict.rules

delegation := data.settings.delegation

delegation_depth := max({object.get(input.principal, "delegation_depth", 0), count(object.get(input.principal, "actors", []))})

deny contains {
	"rule": "delegation.max_depth",
	"code": "delegation_too_deep",
	"message": sprintf("a delegation chain of %v actors is deeper than the %v allowed", [delegation_depth, delegation.max_depth]),
} if {
	delegation_depth > delegation.max_depth
}

actor_name(actor) := actor.client_id if is_string(actor.client_id)

else := actor.subject

disallowed_actors contains actor_name(actor) if {
	some actor in input.principal.actors
	not actor_name(actor) in delegation.allowed_actors
}

deny contains {
	"rule": "delegation.allowed_actors",
	"code": "actor_not_allowed",
	"message": sprintf("the delegation chain includes actors that are not allowed: %s", [concat(", ", sort(disallowed_actors))]),
} if {
	count(disallowed_actors) > 0
}
