package verdict.rules_test

import data.verdict.rules

reading(principal) := {
	"action": "invoices:read",
	"now": 1700000000,
	"principal": object.union({"subject": "user-9", "issuer": "https://issuer.example", "client_id": "agent-7", "scopes": ["invoices:read"]}, principal),
}

rate_obligations(inp) := {o | some o in rules.obligations with input as inp; o.type == "rate"}

test_an_agent_is_counted_per_agent_and_per_user_in_a_sliding_minute if {
	rate_obligations(reading({"client_type": "ai-agent"})) == {
		{
			"rule": "rates.per_agent", "type": "rate", "key": ["rate", "agent", "https://issuer.example", "agent-7"], "limit": 120, "window": "sliding:60",
			"reason": {"code": "rate_limited", "message": "an AI agent may make at most 120 requests a minute"},
		},
		{
			"rule": "rates.per_user", "type": "rate", "key": ["rate", "user", "https://issuer.example", "user-9"], "limit": 300, "window": "sliding:60",
			"reason": {"code": "rate_limited", "message": "AI agents may make at most 300 requests a minute for one user"},
		},
	}
}

test_a_human_driven_client_is_not_counted if {
	rate_obligations(reading({"client_type": "web"})) == set()
}

test_two_issuers_users_and_agents_of_one_name_are_counted_apart if {
	keys_a := {o.key | some o in rate_obligations(reading({"client_type": "ai-agent", "issuer": "https://a.example"}))}
	keys_b := {o.key | some o in rate_obligations(reading({"client_type": "ai-agent", "issuer": "https://b.example"}))}
	count(keys_a) == 2
	count(keys_a & keys_b) == 0
}

test_a_rate_without_data_is_not_counted if {
	rate_obligations(reading({"client_type": "ai-agent"})) == set() with data.settings.rates as {}
}
