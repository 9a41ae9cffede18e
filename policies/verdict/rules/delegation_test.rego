package verdict.rules_test

import data.verdict.rules

chain(actors) := {"action": "invoices:read", "principal": {"subject": "u", "scopes": ["invoices:read"], "actors": actors, "delegation_depth": count(actors)}}

codes_of(set) := {r.code | some r in set}

test_no_delegation_is_allowed if {
	count(rules.deny) == 0 with input as chain([])
}

test_a_chain_of_exactly_max_depth_is_allowed if {
	count(rules.deny) == 0 with input as chain([{"subject": "agent-1"}, {"subject": "planner-agent"}])
}

test_a_chain_one_deeper_than_max_depth_is_denied if {
	some r in rules.deny with input as chain([{"subject": "agent-1"}, {"subject": "planner-agent"}, {"subject": "agent-7"}])
	r.code == "delegation_too_deep"
	r.rule == "delegation.max_depth"
}

test_the_depth_is_the_larger_of_the_claimed_depth_and_the_chain if {
	inp := {"principal": {"subject": "u", "actors": [{"subject": "agent-1"}], "delegation_depth": 5}}
	rules.delegation_depth == 5 with input as inp
	inp2 := {"principal": {"subject": "u", "actors": [{"subject": "a"}, {"subject": "b"}, {"subject": "c"}], "delegation_depth": 0}}
	rules.delegation_depth == 3 with input as inp2
}

test_an_actor_not_allowed_is_denied_and_named if {
	some r in rules.deny with input as chain([{"subject": "agent-1"}, {"subject": "stranger"}])
	r.code == "actor_not_allowed"
	r.rule == "delegation.allowed_actors"
	r.message == "the delegation chain includes actors that are not allowed: stranger"
}

test_an_actor_is_named_by_its_client_id_when_it_has_one if {
	codes_of(rules.deny) == set() with input as chain([{"subject": "svc-9", "client_id": "billing-agent"}])
	codes_of(rules.deny) == {"actor_not_allowed"} with input as chain([{"subject": "agent-1", "client_id": "rogue"}])
}

test_several_strangers_give_one_reason if {
	denials := rules.deny with input as chain([{"subject": "x"}, {"subject": "y"}])
	count(denials) == 1
}
