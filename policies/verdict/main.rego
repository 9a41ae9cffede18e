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

decision := {
	"effect": "allow",
	"reasons": [],
	"obligations": [object.remove(o, ["rule"]) | some o in rules.obligations],
	"explain": explain,
} if {
	count(rules.deny) == 0
	count(rules.step_up) == 0
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
		[hit("step_up", r, r.code, r.message) | some r in rules.step_up],
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
