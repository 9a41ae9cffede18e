package verdict.rules_test

import data.verdict.rules

principal(scopes) := {"subject": "user-123", "client_id": "agent-7", "scopes": scopes}

test_an_unknown_action_is_denied if {
	some r in rules.deny with input as {"action": "nope", "principal": principal([])}
	r.code == "action_unknown"
}

test_a_known_action_with_its_scope_has_no_denial if {
	count(rules.deny) == 0 with input as {"action": "invoices:read", "principal": principal(["invoices:read"])}
}

test_a_missing_scope_is_named if {
	missing := rules.missing_scopes with input as {"action": "invoices:dispute", "principal": principal(["invoices:read"])}
	missing == {"invoices:write"}
}

test_required_scopes_list_all_scopes_of_the_action_when_one_is_missing if {
	settings := {"actions": {"reports:export": {"scopes": ["reports:read", "reports:export"]}}, "acr_levels": {}, "limits": {}}
	required := rules.required_scopes with input as {"action": "reports:export", "principal": principal(["reports:read"])}
		with data.settings as settings
	required == {"reports:read", "reports:export"}
}

test_required_scopes_are_empty_when_none_is_missing if {
	required := rules.required_scopes with input as {"action": "invoices:read", "principal": principal(["invoices:read"])}
	required == set()
}
