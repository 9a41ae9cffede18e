# The fixture's decisions: rules 1-8, the README's full table (stored values, no
# properties in the request), the batch case c-3-2-3, the search requirements
# S1-S6 as the per-candidate decisions they come from, and unknown entities.
package verdict_test

import data.verdict

# The directory of dataset.json, as the edge resolves it.
stored := {
	"subject": {"alice": {}, "bob": {"role": "admin"}},
	"resource": {"record-1": {"status": "active"}, "record-2": {"status": "archived"}},
}

entity(kind, type, id, sent) := {
	"type": type,
	"id": id,
	"properties": object.union(object.get(stored[kind], id, {}), sent),
	"known": object.get(stored[kind], id, null) != null,
} if {
	type == {"subject": "user", "resource": "record"}[kind]
}

else := {"type": type, "id": id, "properties": sent, "known": false}

input_for(subject, subject_props, action, action_props, resource, resource_props) := {
	"action": action,
	"resource": {"type": "record", "id": resource, "attributes": {}},
	"context": {},
	"principal": {"subject": subject},
	"authzen": {
		"subject": entity("subject", "user", subject, subject_props),
		"resource": entity("resource", "record", resource, resource_props),
		"action": {"name": action, "properties": action_props, "known": action in {"read", "write", "delete"}},
	},
}

allows(subject, action, resource) if {
	verdict.decision.effect == "allow" with input as input_for(subject, {}, action, {}, resource, {})
}

allows_with(subject, subject_props, action, action_props, resource, resource_props) if {
	verdict.decision.effect == "allow" with input as input_for(subject, subject_props, action, action_props, resource, resource_props)
}

test_rule_1_alice_reads_record_1 if allows("alice", "read", "record-1")

test_rule_2_alice_writes_record_1 if allows("alice", "write", "record-1")

test_rule_3_bob_reads_record_1 if allows("bob", "read", "record-1")

test_rule_4_bob_may_not_write_record_1 if not allows("bob", "write", "record-1")

test_rule_5_alice_may_not_write_an_archived_record if not allows_with("alice", {}, "write", {}, "record-2", {"status": "archived"})

test_rule_6_an_admin_writes_an_archived_record if allows_with("bob", {"role": "admin"}, "write", {}, "record-2", {"status": "archived"})

test_rule_7_alice_soft_deletes_record_1 if allows_with("alice", {}, "delete", {"soft": true}, "record-1", {})

test_rule_8_alice_may_not_hard_delete_record_1 if not allows_with("alice", {}, "delete", {"soft": false}, "record-1", {})

test_a_delete_without_soft_is_a_hard_delete if not allows("alice", "delete", "record-1")

test_batch_c_3_2_3_alice_writes_an_active_record_sent_as_such if allows_with("alice", {}, "write", {}, "record-1", {"status": "active"})

# The README's decision table: every cell, from stored values alone.
table := [
	["alice", "read", {}, true, true],
	["alice", "write", {}, true, false],
	["alice", "delete", {"soft": true}, true, false],
	["alice", "delete", {"soft": false}, false, false],
	["alice", "delete", {}, false, false],
	["bob", "read", {}, true, true],
	["bob", "write", {}, false, true],
	["bob", "delete", {"soft": true}, false, true],
	["bob", "delete", {"soft": false}, false, false],
	["bob", "delete", {}, false, false],
]

test_the_readme_decision_table if {
	mismatches := [sprintf("%s %s %v %s", [row[0], row[1], row[2], id]) |
		some row in table
		some [id, column] in [["record-1", 3], ["record-2", 4]]
		allows_with(row[0], {}, row[1], row[2], id, {}) != row[column]
	]
	mismatches == []
}

# A request's properties win over stored ones.
test_a_sent_status_overrides_the_stored_one if not allows_with("alice", {}, "write", {}, "record-1", {"status": "archived"})

test_a_sent_role_overrides_the_stored_one if not allows_with("bob", {"role": "viewer"}, "write", {}, "record-2", {})

# Search requirements, as the decisions for each candidate.
test_s1_alice_and_bob_may_read_record_1 if {
	allows("alice", "read", "record-1")
	allows("bob", "read", "record-1")
}

test_s2_alice_reads_both_records if {
	allows("alice", "read", "record-1")
	allows("alice", "read", "record-2")
}

test_s3_alice_reads_and_writes_record_1_but_delete_needs_soft if {
	allows("alice", "read", "record-1")
	allows("alice", "write", "record-1")
	not allows("alice", "delete", "record-1")
}

test_s4_only_bob_writes_archived_record_2 if {
	allows_with("bob", {}, "write", {}, "record-2", {"status": "archived"})
	not allows_with("alice", {}, "write", {}, "record-2", {"status": "archived"})
}

test_s5_and_s6_admin_bob_writes_record_2_only if {
	allows_with("bob", {"role": "admin"}, "write", {}, "record-2", {"status": "archived"})
	not allows_with("bob", {"role": "admin"}, "write", {}, "record-1", {})
	allows_with("bob", {"role": "admin"}, "read", {}, "record-2", {"status": "archived"})
}

test_unknown_subjects_are_denied_everything if {
	not allows("nonexistent-user", "read", "record-1")
	not allows_with("nonexistent-user", {"role": "admin"}, "write", {}, "record-2", {"status": "archived"})
	d := verdict.decision with input as input_for("nonexistent-user", {}, "read", {}, "record-1", {})
	d.reasons[0].code == "unknown_subject"
}

test_unknown_records_are_denied_everything if {
	not allows("alice", "read", "record-3")
	d := verdict.decision with input as input_for("alice", {}, "read", {}, "record-3", {})
	d.reasons[0].code == "unknown_resource"
}

test_unknown_types_are_denied if {
	i := input_for("alice", {}, "read", {}, "record-1", {})
	spaceship := json.patch(i, [{"op": "replace", "path": "/authzen/subject", "value": {"type": "spaceship", "id": "alice", "properties": {}, "known": false}}])
	verdict.decision.effect == "deny" with input as spaceship
}

test_unknown_actions_are_denied if {
	d := verdict.decision with input as input_for("alice", {}, "fly", {}, "record-1", {})
	d.effect == "deny"
	d.reasons[0].code == "not_permitted"
}

test_context_never_changes_a_decision if {
	i := object.union(input_for("alice", {}, "read", {}, "record-1", {}), {"context": {"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"}})
	verdict.decision.effect == "allow" with input as i
}

test_a_check_without_authzen_entities_is_denied if {
	d := verdict.decision with input as {"action": "read", "resource": {"type": "record", "id": "record-1", "attributes": {}}, "context": {}}
	d.effect == "deny"
	d.reasons[0].code == "authzen_only"
}

test_no_state_is_needed if verdict.state_queries == []
