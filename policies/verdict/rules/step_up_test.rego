package verdict.rules_test

import data.verdict.rules

now := 1700000000

dispute(p) := {"action": "invoices:dispute", "now": now, "principal": object.union({"subject": "u", "client_type": "web", "scopes": ["invoices:write"]}, p)}

fresh_settings := object.union(data.settings, {"actions": {"invoices:dispute": {"scopes": ["invoices:write"], "acr": "mfa", "max_age": 300}}})

test_password_level_needs_step_up_to_mfa if {
	some r in rules.step_up with input as dispute({"acr": "pwd"})
	r.code == "step_up_required"
	r.rule == "step_up.action"
	r.acr == "mfa"
	r.max_age == false
}

test_missing_acr_needs_step_up if {
	count(rules.step_up) == 1 with input as dispute({})
}

test_unknown_acr_counts_as_level_zero if {
	rules.principal_acr_level == 0 with input as dispute({"acr": "made-up"})
	count(rules.step_up) == 1 with input as dispute({"acr": "made-up"})
}

test_mfa_satisfies_mfa if {
	count(rules.step_up) == 0 with input as dispute({"acr": "mfa"})
}

test_a_higher_level_satisfies_mfa if {
	count(rules.step_up) == 0 with input as dispute({"acr": "phr"})
}

test_an_action_without_acr_needs_no_step_up if {
	count(rules.step_up) == 0 with input as {"action": "invoices:read", "principal": {"subject": "u", "scopes": []}}
}

test_authentication_exactly_max_age_old_is_fresh_enough if {
	count(rules.step_up) == 0 with input as dispute({"acr": "mfa", "auth_time": now - 300}) with data.settings as fresh_settings
}

test_authentication_one_second_older_than_max_age_needs_step_up if {
	some r in rules.step_up with input as dispute({"acr": "mfa", "auth_time": (now - 300) - 1}) with data.settings as fresh_settings
	r.code == "authentication_too_old"
	r.max_age == 300
	r.acr == "mfa"
}

test_missing_auth_time_with_max_age_needs_step_up if {
	some r in rules.step_up with input as dispute({"acr": "mfa"}) with data.settings as fresh_settings
	r.code == "authentication_too_old"
}

test_a_too_low_level_is_reported_once_not_also_as_too_old if {
	steps := rules.step_up with input as dispute({"acr": "pwd", "auth_time": 1}) with data.settings as fresh_settings
	{r.code | some r in steps} == {"step_up_required"}
}

test_a_requirement_without_acr_asks_for_the_strongest_level if {
	rules.strongest_acr == "phr"
	req := rules.requirement("x.y", "c", "m", {"max_age": 5})
	req == {"rule": "x.y", "code": "c", "message": "m", "acr": "phr", "max_age": 5}
}

test_a_requirement_keeps_only_acr_and_max_age_from_its_settings if {
	req := rules.requirement("x.y", "c", "m", {"acr": "mfa", "step_up_over": 3})
	req == {"rule": "x.y", "code": "c", "message": "m", "acr": "mfa"}
}
