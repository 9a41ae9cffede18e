package verdict.rules_test

import data.verdict.rules

export(classification, client_type) := {
	"action": "customers:export",
	"now": 1700000000,
	"resource": {"type": "customer", "id": "c-1", "attributes": {"classification": classification}},
	"principal": {"subject": "u", "client_type": client_type, "scopes": ["customers:read", "customers:export"]},
}

sensitive_rules(reqs) := {r.rule | some r in reqs}

test_exporting_pii_needs_step_up if {
	some req in rules.step_up_requirements with input as export("pii", "web")
	req.rule == "sensitive.step_up"
	req.code == "sensitive_data_step_up_required"
	req.acr == "mfa"
	req.max_age == 300
}

test_sharing_pii_needs_step_up if {
	inp := object.union(export("pii", "web"), {"action": "customers:share"})
	sensitive_rules(rules.step_up_requirements) == {"sensitive.step_up"} with input as inp
}

test_exporting_public_data_needs_no_step_up if {
	count(rules.step_up_requirements) == 0 with input as export("public", "ai-agent")
}

test_a_resource_without_classification_counts_as_pii if {
	inp := {"action": "customers:export", "resource": {"type": "customer", "id": "c", "attributes": {}}, "principal": {"subject": "u", "client_type": "web"}}
	rules.classification == "pii" with input as inp
	sensitive_rules(rules.step_up_requirements) == {"sensitive.step_up"} with input as inp
}

test_a_classification_that_is_not_a_string_counts_as_pii if {
	rules.classification == "pii" with input as export(["public"], "web")
}

test_confidential_data_needs_the_users_approval_for_agents_only if {
	count(rules.step_up_requirements) == 0 with input as export("confidential", "web")
	count(rules.approvals) == 0 with input as export("confidential", "web")
	count(rules.step_up_requirements) == 0 with input as export("confidential", "ai-agent")
	{a.rule | some a in rules.approvals} == {"approvals.required"} with input as export("confidential", "ai-agent")
}

test_an_agent_exporting_public_data_needs_no_approval if {
	count(rules.approvals) == 0 with input as export("public", "ai-agent")
}

test_reading_pii_is_not_an_export if {
	inp := object.union(export("pii", "web"), {"action": "invoices:read"})
	count(rules.step_up_requirements) == 0 with input as inp
}
