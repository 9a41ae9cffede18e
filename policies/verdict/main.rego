# Entry points of the bundle. The rules in package verdict.rules contribute
# reasons, step-ups and obligations; this module turns them into one decision:
# any deny wins, then any step-up, else allow with the obligations to enforce.
package verdict

import data.verdict.rules

# METADATA
# entrypoint: true
# description: The decision for one Check (docs/policies.md).
decision := {
	"effect": "deny",
	"reasons": [reason_of(r) | some r in rules.deny],
	"required_scopes": sort(rules.required_scopes),
} if {
	count(rules.deny) > 0
}

decision := {
	"effect": "step_up",
	"reasons": [reason_of(r) | some r in rules.step_up],
	"step_up": step_up_challenge,
} if {
	count(rules.deny) == 0
	count(rules.step_up) > 0
}

decision := {
	"effect": "allow",
	"reasons": [],
	"obligations": [o | some o in rules.obligations],
} if {
	count(rules.deny) == 0
	count(rules.step_up) == 0
}

# METADATA
# entrypoint: true
# description: The real-time state a decision needs, read before verdict/decision.
state_queries := [q | some q in rules.state_queries]

reason_of(r) := {"code": r.code, "message": r.message}

step_up_challenge := object.union(
	{"acr_values": sort({r.acr | some r in rules.step_up})},
	max_age_part,
)

max_age_part := {"max_age": min({r.max_age | some r in rules.step_up; r.max_age})} if {
	some r in rules.step_up
	r.max_age
}

else := {}
