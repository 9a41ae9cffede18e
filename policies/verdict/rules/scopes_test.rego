package verdict.rules_test

import data.verdict.rules

principal(scopes) := {"subject": "user-123", "client_id": "agent-7", "scopes": scopes}

test_an_unknown_action_is_denied if {
	some r in rules.deny with input as {"action": "nope", "principal": principal([])}
	r.code == "action_unknown"
	r.rule == "scopes.action_unknown"
}

test_a_known_action_with_its_scope_has_no_denial if {
	count(rules.deny) == 0 with input as {"action": "invoices:read", "principal": principal(["invoices:read"])}
}

test_a_missing_scope_is_named if {
	missing := rules.missing_scopes with input as {"action": "invoices:dispute", "principal": principal(["invoices:read"])}
	missing == {"invoices:write"}
}

test_a_principal_without_scopes_misses_them_all if {
	missing := rules.missing_scopes with input as {"action": "customers:export", "principal": {"subject": "u"}}
	missing == {"customers:read", "customers:export"}
}

test_required_scopes_list_all_scopes_of_the_action_when_one_is_missing if {
	required := rules.required_scopes with input as {"action": "customers:export", "principal": principal(["customers:read"])}
	required == {"customers:read", "customers:export"}
}

test_required_scopes_are_empty_when_none_is_missing if {
	required := rules.required_scopes with input as {"action": "invoices:read", "principal": principal(["invoices:read"])}
	required == set()
}

test_scopes_that_are_not_a_list_count_as_none if {
	missing := rules.missing_scopes with input as {"action": "invoices:read", "principal": {"subject": "u", "scopes": "invoices:read"}}
	missing == {"invoices:read"}
}
