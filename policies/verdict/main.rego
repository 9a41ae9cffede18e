# Entry points of the bundle. The rules in package verdict.rules contribute
# denials, step-ups and obligations, each naming the rule that produced it; this
# module turns them into one decision: any deny wins, then any step-up, else allow
# with the obligations to enforce. Every decision also lists the rules that fired
# (explain), because opa-wasm has no trace of its own (docs/policies.md).
#
# METADATA
# scope: subpackages
# schemas:
#   - input: schema.input
#   - data.settings: schema.settings
package verdict

import data.verdict.rules

# METADATA
# entrypoint: true
# description: The decision for one Check (docs/policies.md).
decision := {
	"effect": "deny",
	"reasons": [reason_of(r) | some r in rules.deny],
	"required_scopes": sort(rules.required_scopes),
	# Brakes (suspend) are counted on denials (brakes.rego); they never change the decision.
	"obligations": [object.remove(o, ["rule"]) | some o in rules.brakes],
	"required_authorization_details": [d | some r in rules.deny; some d in object.get(r, "authorization_details", [])],
	"explain": explain,
} if {
	count(rules.deny) > 0
}

decision := {
	"effect": "step_up",
	"reasons": [reason_of(r) | some r in rules.step_up],
	"step_up": step_up_challenge,
	"explain": explain,
} if {
	count(rules.deny) == 0
	count(rules.step_up) > 0
}

# A person's approval of this exact request (docs/approvals.md): Verdict keeps it
# and, when the agent's retry names it, uses it once and applies the obligations.
decision := {
	"effect": "step_up",
	"reasons": [reason_of(r) | some r in rules.approvals],
	"approval": approval_request,
	"obligations": [object.remove(o, ["rule"]) | some o in rules.obligations],
	"explain": explain,
} if {
	count(rules.deny) == 0
	count(rules.step_up) == 0
	count(rules.approvals) > 0
}

decision := {
	"effect": "allow",
	"reasons": [],
	"obligations": [object.remove(o, ["rule"]) | some o in rules.obligations],
	"explain": explain,
} if {
	count(rules.deny) == 0
	count(rules.step_up) == 0
	count(rules.approvals) == 0
}

# METADATA
# entrypoint: true
# description: The real-time state a decision needs, read before verdict/decision.
state_queries := [q | some q in rules.state_queries]

reason_of(r) := {"code": r.code, "message": r.message}

# Which rules fired, whatever the effect: a deny also shows the step-ups and
# obligations that would have applied. An obligation's entry carries the
# obligation itself: Verdict words it from the obligation type (docs/policies.md).
explain := array.concat(
	array.concat(
		[hit("deny", r, r.code, r.message) | some r in rules.deny],
		array.concat(
			[hit("step_up", r, r.code, r.message) | some r in rules.step_up],
			[hit("step_up", r, r.code, r.message) | some r in rules.approvals],
		),
	),
	[obligation_hit(o) | some o in rules.obligations],
)

hit(kind, entry, code, message) := {"kind": kind, "rule": object.get(entry, "rule", "unnamed"), "code": code, "message": message}

obligation_hit(o) := {"kind": "obligation", "rule": object.get(o, "rule", "unnamed"), "code": o.type, "obligation": object.remove(o, ["rule"])}

# The client must reach the strongest level any step-up asks for; max_age is the
# smallest any of them sets.
step_up_challenge := object.union({"acr_values": [strongest_needed_acr]}, max_age_part)

strongest_needed_acr := [acr |
	some acr in needed_acrs
	data.settings.acr_levels[acr] == max([data.settings.acr_levels[a] | some a in needed_acrs])
][0]

needed_acrs := {r.acr | some r in rules.step_up}

max_age_part := {"max_age": min({r.max_age | some r in rules.step_up; r.max_age})} if {
	some r in rules.step_up
	r.max_age
}

else := {}

# Every approval rule's fields bound; the shortest expiry, the strictest freshness;
# the acr values every rule accepts; every rule's scopes; every approver and
# authorization detail named.
approval_request := object.union(
	{
		"fields": sort({f | some r in rules.approvals; some f in r.fields}),
		"expires_in": min({r.expires_in | some r in rules.approvals}),
		"acr_values": sort(intersection({{a | some a in r.acr_values} | some r in rules.approvals})),
		"scopes": sort({s | some r in rules.approvals; some s in object.get(r, "scopes", [])}),
		"approvers": [a | some a in {a | some r in rules.approvals; some a in object.get(r, "approvers", [])}],
		"authorization_details": [d | some d in {d | some r in rules.approvals; some d in object.get(r, "authorization_details", [])}],
	},
	approval_max_age,
)

approval_max_age := {"max_age": min({r.max_age | some r in rules.approvals; r.max_age})} if {
	some r in rules.approvals
	r.max_age
}

else := {}
