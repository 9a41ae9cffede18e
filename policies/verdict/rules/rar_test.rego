package verdict.rules_test

import data.verdict
import data.verdict.rules

payment_detail := {
	"type": "payment_initiation",
	"actions": ["payments:initiate"],
	"locations": ["https://invoices.example"],
	"instructedAmount": {"currency": "EUR", "amount": "480.00"},
	"creditorAccount": {"iban": "DE02100100109307118603"},
}

initiate(details, context) := {
	"action": "payments:initiate",
	"resource": {"type": "account", "id": "main", "attributes": {}},
	"context": context,
	"principal": {
		"subject": "user-1", "issuer": "https://issuer.example", "client_id": "agent-7", "client_type": "ai-agent",
		"scopes": ["payments:write"], "actors": [], "delegation_depth": 0, "token_id": "jti-9", "expires_at": 1700003600,
		"authorization_details": details,
	},
	"caller": {"api": "invoices-api", "audience": "https://invoices.example"},
	"state": {},
	"now": 1700000000,
}

transfer_480 := {"amount": 480, "currency": "EUR", "destination": "DE02100100109307118603"}

test_a_covering_entry_allows_once_through_the_tokens_jti if {
	d := verdict.decision with input as initiate([payment_detail], transfer_480)
	d.effect == "allow"
	some o in d.obligations
	o.type == "once"
	o.key == ["rar", "https://issuer.example", "jti-9"]
}

test_a_smaller_amount_is_covered if {
	rules.rar_covered with input as initiate([payment_detail], object.union(transfer_480, {"amount": 100}))
}

test_a_larger_amount_is_not_covered_and_names_the_details_to_obtain if {
	d := verdict.decision with input as initiate([payment_detail], object.union(transfer_480, {"amount": 481}))
	d.effect == "deny"
	[r.code | some r in d.reasons] == ["authorization_details_insufficient"]
	d.required_authorization_details == [{
		"type": "payment_initiation",
		"actions": ["payments:initiate"],
		"locations": ["https://invoices.example"],
		"instructedAmount": {"currency": "EUR", "amount": "481"},
		"creditorAccount": {"iban": "DE02100100109307118603"},
	}]
}

test_another_creditor_currency_action_or_location_is_not_covered if {
	not rules.rar_covered with input as initiate([payment_detail], object.union(transfer_480, {"destination": "FR7630006000011234567890189"}))
	not rules.rar_covered with input as initiate([payment_detail], object.union(transfer_480, {"currency": "USD"}))
	not rules.rar_covered with input as initiate([object.union(payment_detail, {"actions": ["payments:refund"]})], transfer_480)
	not rules.rar_covered with input as initiate([object.union(payment_detail, {"locations": ["https://other.example"]})], transfer_480)
	not rules.rar_covered with input as initiate([object.union(payment_detail, {"type": "account_information"})], transfer_480)
}

test_a_token_without_authorization_details_is_denied if {
	d := verdict.decision with input as initiate([], transfer_480)
	d.effect == "deny"
}
