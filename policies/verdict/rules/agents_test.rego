package verdict.rules_test

import data.verdict.rules

as_agent(action, p) := {"action": action, "now": 1700000000, "principal": object.union({"subject": "u", "client_id": "agent-7", "client_type": "ai-agent", "scopes": []}, p)}

test_an_ai_agent_client_type_is_an_agent if {
	rules.is_agent with input as as_agent("invoices:read", {})
}

test_a_known_human_client_type_is_not_an_agent if {
	every client_type in ["web", "native", "user-agent"] {
		not rules.is_agent with input as {"principal": {"subject": "u", "client_type": client_type}}
	}
}

test_a_client_without_client_type_is_an_agent if {
	rules.is_agent with input as {"principal": {"subject": "u"}}
	rules.is_agent with input as {"principal": {"subject": "u", "client_type": ""}}
	rules.is_agent with input as {"principal": {"subject": "u", "client_type": null}}
}

test_an_unknown_client_type_is_an_agent if {
	every client_type in ["confidential", "bot", "web-agent", "webx"] {
		rules.is_agent with input as {"principal": {"subject": "u", "client_type": client_type}}
	}
}

test_client_types_are_compared_trimmed_and_lowercased if {
	every client_type in ["AI-Agent", "ai-agent ", " AI-AGENT"] {
		rules.is_agent with input as {"principal": {"subject": "u", "client_type": client_type}}
	}
	every client_type in ["Web", " web ", "NATIVE"] {
		not rules.is_agent with input as {"principal": {"subject": "u", "client_type": client_type}}
	}
}

test_a_delegated_token_is_an_agent_whatever_its_client_type if {
	rules.is_agent with input as {"principal": {"subject": "u", "client_type": "web", "actors": [{"subject": "planner"}], "delegation_depth": 1}}
	rules.is_agent with input as {"principal": {"subject": "u", "client_type": "web", "delegation_depth": 1}}
	rules.is_agent with input as {"principal": {"subject": "u", "client_type": "web", "actors": [{"subject": "planner"}]}}
}

test_a_type_listed_as_both_agent_and_human_is_an_agent if {
	rules.is_agent with input as {"principal": {"subject": "u", "client_type": "web"}} with data.settings.agents.client_types as ["web"]
}

test_without_human_client_types_every_client_is_an_agent if {
	rules.is_agent with input as {"principal": {"subject": "u", "client_type": "web"}} with data.settings.agents as {"client_types": ["ai-agent"]}
}

test_an_agent_without_client_type_gets_the_agent_limits_and_rates if {
	inp := {
		"action": "payments:transfer", "now": 1700000000, "context": {"amount": 400},
		"principal": {"subject": "u", "issuer": "i", "client_id": "c", "scopes": ["payments:write"]},
	}
	some r in rules.deny with input as inp
	r.rule == "transactions.per_transaction"
	{o.rule | some o in rules.obligations with input as inp; o.type == "rate"} == {"rates.per_agent", "rates.per_user"}
}

test_an_agent_may_not_do_a_denied_action if {
	some r in rules.deny with input as as_agent("accounts:close", {"scopes": ["accounts:write"]})
	r.code == "agent_action_forbidden"
	r.rule == "agents.denied_action"
}

test_a_human_may_do_an_action_denied_to_agents if {
	inp := object.union(as_agent("accounts:close", {"scopes": ["accounts:write"]}), {"principal": {"client_type": "web", "token_id": "jti-1"}})
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
	inp := object.union(as_agent("invoices:dispute", {}), {"principal": {"client_type": "web"}})
	reqs := rules.step_up_requirements with input as inp
	{r.rule | some r in reqs} == {"step_up.action"}
}
