package verdict.rules_test

import data.verdict.rules

as_agent(action, p) := {"action": action, "now": 1700000000, "principal": object.union({"subject": "u", "client_id": "agent-7", "client_type": "ai-agent", "scopes": []}, p)}

test_an_ai_agent_client_type_is_an_agent if {
	rules.is_agent with input as as_agent("invoices:read", {})
}

test_a_client_without_client_type_is_not_an_agent if {
	not rules.is_agent with input as {"principal": {"subject": "u"}}
}

test_another_client_type_is_not_an_agent if {
	not rules.is_agent with input as {"principal": {"subject": "u", "client_type": "confidential"}}
}

test_an_agent_may_not_do_a_denied_action if {
	some r in rules.deny with input as as_agent("accounts:close", {"scopes": ["accounts:write"]})
	r.code == "agent_action_forbidden"
	r.rule == "agents.denied_action"
}

test_a_human_may_do_an_action_denied_to_agents if {
	inp := object.union(as_agent("accounts:close", {"scopes": ["accounts:write"]}), {"principal": {"client_type": "", "token_id": "jti-1"}})
	count(rules.deny) == 0 with input as inp
}

test_an_agent_needs_the_agent_step_up_of_the_action if {
	some req in rules.step_up_requirements with input as as_agent("invoices:dispute", {})
	req.rule == "agents.step_up"
	req.code == "agent_step_up_required"
	req.acr == "mfa"
	req.max_age == 600
}

test_a_human_has_no_agent_step_up if {
	inp := object.union(as_agent("invoices:dispute", {}), {"principal": {"client_type": ""}})
	reqs := rules.step_up_requirements with input as inp
	{r.rule | some r in reqs} == {"step_up.action"}
}
