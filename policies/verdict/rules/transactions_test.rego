package verdict.rules_test

import data.verdict.rules

transfer(amount, p) := {
	"action": "payments:transfer",
	"now": 1700000000,
	"context": {"amount": amount},
	"principal": object.union({"subject": "user-123", "issuer": "https://issuer.example", "client_id": "web-app", "client_type": "web", "scopes": ["payments:write"]}, p),
}

agent_transfer(amount) := transfer(amount, {"client_id": "agent-7", "client_type": "ai-agent"})

codes(set) := {r.code | some r in set}

test_a_transfer_at_the_per_transaction_limit_is_not_denied if {
	count(rules.deny) == 0 with input as transfer(500, {})
}

test_a_transfer_one_over_the_per_transaction_limit_is_denied if {
	some r in rules.deny with input as transfer(501, {})
	r.code == "limit_exceeded"
	r.rule == "transactions.per_transaction"
}

test_a_transfer_without_an_amount_is_denied if {
	inp := {"action": "payments:transfer", "context": {}, "principal": {"subject": "u", "scopes": ["payments:write"]}}
	codes(rules.deny) == {"amount_invalid"} with input as inp
}

test_a_non_numeric_amount_is_denied if {
	codes(rules.deny) == {"amount_invalid"} with input as transfer("100", {})
}

test_a_zero_or_negative_amount_is_denied if {
	codes(rules.deny) == {"amount_invalid"} with input as transfer(0, {})
	codes(rules.deny) == {"amount_invalid"} with input as transfer(-5, {})
}

test_an_agent_has_the_lower_per_transaction_limit if {
	rules.per_transaction_limit == 200 with input as agent_transfer(1)
	rules.per_transaction_limit == 500 with input as transfer(1, {})
}

test_an_agent_ceiling_above_the_general_one_does_not_raise_it if {
	limits := {"payments:transfer": {"per_transaction": 500, "agent": {"per_transaction": 900}}}
	rules.per_transaction_limit == 500 with input as agent_transfer(1) with data.settings.limits as limits
}

test_an_agent_transfer_at_its_limit_is_not_denied_and_one_over_is if {
	count(rules.deny) == 0 with input as agent_transfer(200)
	codes(rules.deny) == {"limit_exceeded"} with input as agent_transfer(201)
}

test_a_transfer_reserves_its_amount_against_the_users_daily_limit if {
	obligations := rules.obligations with input as transfer(100, {})
	obligations == {{
		"rule": "transactions.daily_per_user",
		"type": "reserve",
		"key": ["payments:transfer", "daily_per_user", "https://issuer.example", "user-123"],
		"amount": 100,
		"limit": 1000,
		"window": "day",
		"reason": {"code": "limit_exceeded", "message": "the daily payments:transfer limit of 1000 for this user would be exceeded"},
	}}
}

test_an_agent_transfer_also_reserves_against_the_users_daily_limit_through_that_agent if {
	obligations := {o | some o in rules.obligations with input as agent_transfer(100); o.type == "reserve"}
	{[o.rule, o.limit] | some o in obligations} == {["transactions.daily_per_user", 1000], ["transactions.daily_per_user_per_agent", 300]}
	some o in obligations
	o.key == ["payments:transfer", "daily_per_user_per_agent", "https://issuer.example", "user-123", "agent-7"]
}

reserve_keys_of(issuer) := {o.key | some o in rules.obligations with input as transfer(100, {"issuer": issuer})}

test_two_issuers_users_of_one_name_have_separate_daily_budgets_and_spend if {
	reserve_keys_of("https://a.example") == {["payments:transfer", "daily_per_user", "https://a.example", "user-123"]}
	count(reserve_keys_of("https://a.example") & reserve_keys_of("https://b.example")) == 0
	queries := {q.key | some q in rules.state_queries with input as transfer(100, {"issuer": "https://b.example"})}
	queries == {["payments:transfer", "daily_per_user", "https://b.example", "user-123"]}
}

test_actions_without_limits_carry_no_obligation if {
	count(rules.obligations) == 0 with input as {"action": "invoices:read", "context": {"amount": 5}, "principal": {"subject": "u"}}
}

test_an_agent_transfer_at_the_step_up_threshold_needs_no_step_up if {
	reqs := rules.step_up_requirements with input as agent_transfer(100)
	count(reqs) == 0
}

test_an_agent_transfer_one_over_the_threshold_needs_the_users_approval_not_a_step_up if {
	count(rules.step_up_requirements) == 0 with input as agent_transfer(101)
	some req in rules.approvals with input as agent_transfer(101)
	req == {
		"rule": "approvals.required",
		"code": "approval_required",
		"message": "an AI agent doing payments:transfer of more than 100 needs the user's approval of this request",
		"fields": ["amount", "currency", "destination"],
		"expires_in": 600,
		"acr_values": ["mfa", "phr"],
		"scopes": ["payments:write"],
		"max_age": 300,
	}
}

test_the_approval_asks_the_approvers_token_for_the_settings_scopes_else_the_actions if {
	some req in rules.approvals with input as agent_transfer(101)
		with data.settings.approvals["payments:transfer"].scopes as ["payments:approve"]
	req.scopes == ["payments:approve"]
	some none in rules.approvals with input as agent_transfer(101)
		with data.settings.approvals["payments:transfer"].scopes as []
	none.scopes == []
}

test_an_agent_transfer_at_the_threshold_needs_no_approval if {
	count(rules.approvals) == 0 with input as agent_transfer(100)
}

test_a_human_transfer_over_the_agent_threshold_needs_no_step_up if {
	count(rules.step_up_requirements) == 0 with input as transfer(400, {})
}
