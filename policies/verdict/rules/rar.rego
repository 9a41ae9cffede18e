# Rich authorization requests (RFC 9396; docs/approvals.md#rfc-9396). A token's
# authorization_details reach policies as input.principal.authorization_details;
# these helpers check a request against one entry: its type, its actions and
# locations, an amount not above the authorized one in the same currency, and the
# same creditor. An action listed in data.settings.rar takes such a token: without
# an entry that covers the request it is denied with the details the client must
# obtain (insufficient_authorization); with single_use, the token's jti is
# consumed (a once obligation), so the same authorization cannot pay twice.
package verdict.rules

rar_settings := data.settings.rar[input.action]

# The token's entries of a type.
rar_details(type) := [d | some d in object.get(input.principal, "authorization_details", []); d.type == type]

rar_allows_action(detail, _) if not detail.actions

rar_allows_action(detail, action) if action in detail.actions

rar_allows_location(detail, _) if not detail.locations

rar_allows_location(detail, location) if location in detail.locations

# RFC 9396's payment example: instructedAmount {currency, amount (a decimal string)}.
rar_amount_within(detail, amount, currency) if {
	detail.instructedAmount.currency == currency
	to_number(detail.instructedAmount.amount) >= amount
}

rar_same_creditor(detail, account) if detail.creditorAccount.iban == account

# The request in RFC 9396 terms: what a covering entry must say.
rar_request := {
	"type": rar_settings.type,
	"actions": [input.action],
	"locations": [input.caller.audience],
	"instructedAmount": {"currency": input.context.currency, "amount": sprintf("%v", [input.context.amount])},
	"creditorAccount": {"iban": input.context.destination},
}

rar_covers(detail) if {
	rar_allows_action(detail, input.action)
	rar_allows_location(detail, input.caller.audience)
	rar_amount_within(detail, input.context.amount, input.context.currency)
	rar_same_creditor(detail, input.context.destination)
}

rar_covered if {
	some detail in rar_details(rar_settings.type)
	rar_covers(detail)
}

deny contains {
	"rule": "rar.insufficient",
	"code": "authorization_details_insufficient",
	"message": sprintf("%s needs authorization_details of type %s covering this request (RFC 9396)", [input.action, rar_settings.type]),
	"authorization_details": [rar_request],
} if {
	rar_settings
	not rar_covered
}

obligations contains {
	"rule": "rar.single_use",
	"type": "once",
	"key": ["rar", input.principal.issuer, input.principal.token_id],
	"expires_at": input.principal.expires_at,
	"reason": {"code": "token_replayed", "message": "these authorization details were already used for a transaction"},
} if {
	rar_settings.single_use == true
	rar_covered
	is_string(input.principal.token_id)
}
