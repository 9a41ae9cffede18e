package verdict.rules_test

import data.verdict.rules

delete_items(n, p) := {
	"action": "invoices:delete",
	"now": 1700000000,
	"context": {"item_count": n},
	"principal": object.union({"subject": "u", "issuer": "https://issuer.example", "client_id": "web-app", "client_type": "web", "scopes": ["invoices:write"]}, p),
}

agent_delete(n) := delete_items(n, {"client_type": "ai-agent", "client_id": "agent-7"})

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
	count(rules.deny) == 0 with input as agent_delete(50)
}

test_an_agent_deleting_one_over_the_deny_threshold_is_denied if {
	some r in rules.deny with input as agent_delete(51)
	r.code == "bulk_limit_exceeded"
	r.rule == "bulk.agent_deny"
}

# A CheckBatch holds at most max_batch_items (100 by default): a threshold at or
# above it could never be met by a batch.
test_every_bulk_threshold_can_be_reached_by_one_batch_of_the_default_size if {
	every _, settings in data.settings.bulk {
		every name in ["step_up_over", "agent_step_up_over", "agent_deny_over"] {
			settings[name] < 100
		}
	}
}

test_an_agent_deleting_one_over_the_deny_threshold_in_one_batch_is_denied if {
	some r in rules.deny with input as agent_batch_delete(51)
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

# Over time: what the agent asked for in the window, plus this operation.
with_window_state(inp, items) := object.union(inp, {"state": {"bulk_agent_items": items}})

window_key := ["bulk", "invoices:delete", "agent", "https://issuer.example", "agent-7"]

test_an_agent_reads_its_items_in_the_window if {
	{q | some q in rules.state_queries with input as agent_delete(5)} == {{"name": "bulk_agent_items", "type": "counter", "key": window_key, "window": "sliding:3600"}}
}

test_an_agent_reserves_its_items_in_the_window_one_per_batch_item_or_item_count if {
	some o in rules.obligations with input as agent_delete(5)
	o == {
		"rule": "bulk.agent_window", "type": "reserve", "key": window_key, "amount": 5, "limit": 100, "window": "sliding:3600",
		"reason": {"code": "bulk_limit_exceeded", "message": "an AI agent may invoices:delete at most 100 items within sliding:3600"},
	}
	some b in rules.obligations with input as agent_batch_delete(10)
	b.rule == "bulk.agent_window"
	b.amount == 1
}

test_a_human_is_not_counted_over_time if {
	count(rules.state_queries) == 0 with input as delete_items(5, {})
	count(rules.obligations) == 0 with input as delete_items(5, {})
}

test_an_agent_deleting_ten_per_batch_needs_step_up_once_the_window_holds_more_than_thirty if {
	# three batches of 10 in the hour are fine; the fourth brings the window to 40
	bulk_rules(rules.step_up_requirements) == set() with input as with_window_state(agent_batch_delete(10), 20)
	bulk_rules(rules.step_up_requirements) == {"bulk.agent_window_step_up"} with input as with_window_state(agent_batch_delete(10), 30)
}

test_an_agent_past_the_window_limit_is_denied_whatever_the_authentication if {
	count(rules.deny) == 0 with input as with_window_state(agent_batch_delete(10), 90)
	some r in rules.deny with input as with_window_state(agent_batch_delete(10), 91)
	r.rule == "bulk.agent_window_deny"
	r.code == "bulk_limit_exceeded"
}

test_an_agent_window_step_up_is_met_by_a_fresh_mfa if {
	fresh := object.union(with_window_state(agent_batch_delete(10), 30), {"principal": {"acr": "mfa", "auth_time": 1700000000}})
	count(rules.step_up) == 0 with input as fresh
}

test_in_a_batch_the_context_item_count_is_not_used if {
	inp := object.union(agent_delete(500), {"batch": {"size": 2, "index": 0, "actions": {"invoices:delete": 2}}})
	rules.item_count == 2 with input as inp
}
