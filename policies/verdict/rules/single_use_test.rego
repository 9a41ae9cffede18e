package verdict.rules_test

import data.verdict.rules

closing(principal) := {
	"action": "accounts:close",
	"now": 1700000000,
	"principal": object.union(
		{"subject": "user-9", "client_id": "web-app", "issuer": "https://issuer.example", "token_id": "jti-9", "expires_at": 1700000600},
		principal,
	),
}

test_closing_an_account_consumes_the_token_until_it_expires if {
	{o | some o in rules.obligations with input as closing({}); o.type == "once"} == {{
		"rule": "single_use.once", "type": "once", "key": ["token", "https://issuer.example", "jti-9"], "expires_at": 1700000600,
		"reason": {"code": "token_replayed", "message": "accounts:close takes a single-use token, and this one was already used"},
	}}
}

test_closing_an_account_without_a_jti_is_denied if {
	inp := object.remove(closing({}), ["principal"])
	with_principal := object.union(inp, {"principal": {"subject": "u", "issuer": "i", "expires_at": 1}})
	some r in rules.deny with input as with_principal
	r.code == "single_use_needs_jti"
	{o | some o in rules.obligations with input as with_principal; o.type == "once"} == set()
}

test_a_jti_that_is_not_a_string_does_not_count if {
	some r in rules.deny with input as closing({"token_id": 7})
	r.code == "single_use_needs_jti"
}

test_other_actions_do_not_consume_the_token if {
	inp := object.union(closing({}), {"action": "invoices:read"})
	{o | some o in rules.obligations with input as inp; o.type == "once"} == set()
}
