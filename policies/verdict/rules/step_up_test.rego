package verdict.rules_test

import data.verdict.rules

with_acr(acr) := {"action": "invoices:dispute", "now": 1700000000, "principal": {"subject": "u", "scopes": ["invoices:write"], "acr": acr}}

fresh_settings := object.union(data.settings, {"actions": {"invoices:dispute": {"scopes": ["invoices:write"], "acr": "mfa", "max_age": 300}}})

test_password_level_needs_step_up_to_mfa if {
	some r in rules.step_up with input as with_acr("pwd")
	r.code == "step_up_required"
	r.acr == "mfa"
}

test_missing_acr_needs_step_up if {
	inp := {"action": "invoices:dispute", "now": 1700000000, "principal": {"subject": "u", "scopes": ["invoices:write"]}}
	count(rules.step_up) == 1 with input as inp
}

test_unknown_acr_counts_as_level_zero if {
	count(rules.step_up) == 1 with input as with_acr("made-up")
}

test_mfa_satisfies_mfa if {
	count(rules.step_up) == 0 with input as with_acr("mfa")
}

test_a_higher_level_satisfies_mfa if {
	count(rules.step_up) == 0 with input as with_acr("phr")
}

test_an_action_without_acr_needs_no_step_up if {
	count(rules.step_up) == 0 with input as {"action": "invoices:read", "principal": {"subject": "u", "scopes": []}}
}

test_authentication_exactly_max_age_old_is_fresh_enough if {
	inp := object.union(with_acr("mfa"), {"principal": {"subject": "u", "acr": "mfa", "auth_time": 1700000000 - 300}})
	count(rules.step_up) == 0 with input as inp with data.settings as fresh_settings
}

test_authentication_one_second_older_than_max_age_needs_step_up if {
	inp := object.union(with_acr("mfa"), {"principal": {"subject": "u", "acr": "mfa", "auth_time": (1700000000 - 300) - 1}})
	some r in rules.step_up with input as inp with data.settings as fresh_settings
	r.code == "authentication_too_old"
	r.max_age == 300
}

test_missing_auth_time_with_max_age_needs_step_up if {
	some r in rules.step_up with input as with_acr("mfa") with data.settings as fresh_settings
	r.code == "authentication_too_old"
}
