# METADATA
# description: |
#   A set rule in package verdict.rules that is not one of the policy contract's sets
#   (deny, step_up_requirements, step_up, approvals, obligations, brakes, state_queries, required_scopes)
#   and that nothing in its module reads adds to nothing Verdict sees: the entries
#   are silently dropped (docs/policies.md#the-rule-library). `obligation contains`
#   instead of `obligations contains` drops a limit this way.
# related_resources:
#   - description: the contract's sets
#     ref: https://verdict.local/docs/policies.md#the-rule-library
# schemas:
#   - input: schema.regal.ast
package custom.regal.rules.contract["unknown-contract-set"]

import data.regal.result

contract_sets := {"deny", "step_up_requirements", "step_up", "obligations", "brakes", "approvals", "state_queries", "required_scopes"}

report contains violation if {
	input["package"].path[1].value == "verdict"
	input["package"].path[2].value == "rules"
	some i, rule in input.rules
	rule.head.key
	not rule.head.value
	count(rule.head.ref) == 1
	name := rule.head.ref[0].value
	not name in contract_sets
	not read_elsewhere(name, i)
	violation := result.fail(rego.metadata.chain(), object.union(result.location(rule.head), {"description": message(name)}))
}

# Read by another rule of the module (a helper set, like missing_scopes).
read_elsewhere(name, i) if {
	some j, other in input.rules
	j != i
	walk(other, [_, node])
	node.type == "var"
	node.value == name
}

message(name) := sprintf("%s is not a set of the policy contract and nothing reads it: did you mean %s?", [name, nearest]) if {
	some nearest in contract_sets
	near(name, nearest)
} else := sprintf("%s is not a set of the policy contract (%s) and nothing in its module reads it", [name, concat(", ", sort(contract_sets))])

near(a, b) if a == trim_suffix(b, "s")

near(a, b) if trim_suffix(a, "s") == b

near(a, b) if replace(a, "_", "") == replace(b, "_", "")

near(a, b) if {
	startswith(a, b)
	count(a) - count(b) <= 2
}
