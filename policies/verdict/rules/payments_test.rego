package verdict.rules_test

import data.verdict.rules

transfer(amount) := {
	"action": "payments:transfer",
	"context": {"amount": amount},
	"principal": {"subject": "user-123", "client_id": "agent-7", "scopes": ["payments:write"]},
}

test_a_transfer_at_the_per_transaction_limit_is_not_denied if {
	count(rules.deny) == 0 with input as transfer(500)
}

test_a_transfer_one_over_the_per_transaction_limit_is_denied if {
	some r in rules.deny with input as transfer(501)
	r.code == "limit_exceeded"
}

test_a_transfer_without_an_amount_is_denied if {
	inp := {"action": "payments:transfer", "context": {}, "principal": {"subject": "u", "scopes": ["payments:write"]}}
	some r in rules.deny with input as inp
	r.code == "amount_invalid"
}

test_a_non_numeric_amount_is_denied if {
	some r in rules.deny with input as transfer("100")
	r.code == "amount_invalid"
}

test_a_zero_amount_is_denied if {
	some r in rules.deny with input as transfer(0)
	r.code == "amount_invalid"
}

test_a_transfer_reserves_its_amount_against_the_users_daily_limit if {
	obligations := rules.obligations with input as transfer(100)
	obligations == {{
		"type": "reserve",
		"key": ["payments:transfer", "daily_per_user", "user-123"],
		"amount": 100,
		"limit": 1000,
		"window": "day",
		"reason": {"code": "limit_exceeded", "message": "the daily payments:transfer limit of 1000 for this user would be exceeded"},
	}}
}

test_actions_without_limits_carry_no_obligation if {
	count(rules.obligations) == 0 with input as {"action": "invoices:read", "context": {"amount": 5}, "principal": {"subject": "u"}}
}
