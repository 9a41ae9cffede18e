# Runs every case of policies/testdata/decisions_test.json through verdict.decision.
# The same file is run through the compiled WASM bundle by
# test/integration/policy-cases.test.ts, so what is tested here is what runs.
package verdict.cases_test

import data.testdata
import data.verdict

decide(c) := d if {
	d := verdict.decision with input as object.union(testdata.base_input, c.input)
}

codes(d) := sort([r.code | some r in d.reasons])

rules_fired(d) := sort([sprintf("%s %s", [h.kind, h.rule]) | some h in d.explain])

reserves(d) := sort([{"key": o.key, "amount": o.amount, "limit": o.limit} | some o in object.get(d, "obligations", []); o.type == "reserve"])

rates(d) := sort([{"key": o.key, "limit": o.limit} | some o in object.get(d, "obligations", []); o.type == "rate"])

once_keys(d) := sort([o.key | some o in object.get(d, "obligations", []); o.type == "once"])

optional_matches(expect, field, _) if not field in object.keys(expect)

optional_matches(expect, field, actual) if expect[field] == actual

holds(c) if {
	d := decide(c)
	d.effect == c.expect.effect
	codes(d) == sort(c.expect.reasons)
	reserves(d) == sort(object.get(c.expect, "reserves", []))
	optional_matches(c.expect, "rates", rates(d))
	optional_matches(c.expect, "once", once_keys(d))
	optional_matches(c.expect, "step_up", object.get(d, "step_up", null))
	optional_matches(c.expect, "approval", approval_of(d))
	optional_matches(c.expect, "required_scopes", object.get(d, "required_scopes", []))
	optional_matches(c.expect, "rules", rules_fired(d))
}

failing contains c.name if {
	some c in testdata.decision_cases
	not holds(c)
}

test_every_decision_case_holds if {
	print("decision cases that do not hold:", failing)
	count(failing) == 0
}

test_the_case_table_is_not_empty if {
	count(testdata.decision_cases) >= 50
}

test_every_rule_that_fires_names_itself if {
	unnamed := {c.name |
		some c in testdata.decision_cases
		some h in decide(c).explain
		h.rule == "unnamed"
	}
	count(unnamed) == 0
}

test_case_names_are_unique if {
	count({c.name | some c in testdata.decision_cases}) == count(testdata.decision_cases)
}

# The decision's approval request, in the cases' terms (no scopes, approvers or details when empty).
approval_of(d) := object.remove(d.approval, [k | some k in ["scopes", "approvers", "authorization_details"]; d.approval[k] == []]) if d.approval

else := null
