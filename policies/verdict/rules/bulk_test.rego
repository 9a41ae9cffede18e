package verdict.rules_test

import data.verdict.rules

delete_items(count, p) := {
	"action": "invoices:delete",
	"now": 1700000000,
	"context": {"item_count": count},
	"principal": object.union({"subject": "u", "client_id": "web-app", "client_type": "", "scopes": ["invoices:write"]}, p),
}

agent_delete(count) := delete_items(count, {"client_type": "ai-agent"})

bulk_rules(reqs) := {r.rule | some r in reqs; startswith(r.rule, "bulk.")}

test_deleting_exactly_the_step_up_threshold_needs_no_step_up if {
	bulk_rules(rules.step_up_requirements) == set() with input as delete_items(50, {})
}

test_deleting_one_over_the_step_up_threshold_needs_step_up if {
	some req in rules.step_up_requirements with input as delete_items(51, {})
	req.rule == "bulk.step_up"
	req.code == "bulk_step_up_required"
	req.acr == "mfa"
	req.max_age == 300
}

test_an_agent_has_the_lower_step_up_threshold if {
	rules.bulk_step_up_over == 10 with input as agent_delete(1)
	bulk_rules(rules.step_up_requirements) == set() with input as agent_delete(10)
	bulk_rules(rules.step_up_requirements) == {"bulk.step_up"} with input as agent_delete(11)
}

test_an_agent_threshold_above_the_general_one_does_not_raise_it if {
	bulk := {"invoices:delete": {"step_up_over": 50, "agent_step_up_over": 80}}
	rules.bulk_step_up_over == 50 with input as agent_delete(1) with data.settings.bulk as bulk
}

test_an_agent_deleting_exactly_the_deny_threshold_is_not_denied if {
	count(rules.deny) == 0 with input as agent_delete(100)
}

test_an_agent_deleting_one_over_the_deny_threshold_is_denied if {
	some r in rules.deny with input as agent_delete(101)
	r.code == "bulk_limit_exceeded"
	r.rule == "bulk.agent_deny"
}

test_a_human_over_the_agent_deny_threshold_is_not_denied if {
	count(rules.deny) == 0 with input as delete_items(1000, {})
}

test_an_item_count_must_be_a_whole_number_of_at_least_one if {
	every bad in [0, -1, 2.5, "3", null] {
		some r in rules.deny with input as delete_items(bad, {})
		r.code == "item_count_invalid"
	}
}

test_a_bulk_action_without_item_count_is_denied if {
	inp := {"action": "invoices:update", "context": {}, "principal": {"subject": "u", "scopes": ["invoices:write"]}}
	some r in rules.deny with input as inp
	r.code == "item_count_invalid"
}

test_a_bulk_step_up_without_settings_asks_for_the_strongest_level if {
	bulk := {"invoices:delete": {"step_up_over": 5}}
	some req in rules.step_up_requirements with input as delete_items(6, {}) with data.settings.bulk as bulk
	req.acr == "phr"
}

# In a CheckBatch, the operation is the batch: its items of this action are counted.
agent_batch_delete(size) := object.union(agent_delete(1), {
	"context": {},
	"batch": {"size": size, "index": 0, "actions": {"invoices:delete": size}},
})

test_an_agent_deleting_ten_invoices_in_one_batch_needs_no_step_up if {
	bulk_rules(rules.step_up_requirements) == set() with input as agent_batch_delete(10)
}

test_an_agent_deleting_eleven_invoices_in_one_batch_needs_step_up if {
	bulk_rules(rules.step_up_requirements) == {"bulk.step_up"} with input as agent_batch_delete(11)
}

test_a_batch_counts_only_its_items_of_this_action if {
	inp := object.union(agent_delete(1), {"context": {}, "batch": {"size": 30, "index": 0, "actions": {"invoices:delete": 5, "invoices:read": 25}}})
	rules.item_count == 5 with input as inp
	count(rules.deny) == 0 with input as inp
}

test_in_a_batch_the_context_item_count_is_not_used if {
	inp := object.union(agent_delete(500), {"batch": {"size": 2, "index": 0, "actions": {"invoices:delete": 2}}})
	rules.item_count == 2 with input as inp
}
