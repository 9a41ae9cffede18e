package verdict_test

import data.verdict

agent(scopes) := {
	"subject": "user-123",
	"client_id": "agent-7",
	"client_type": "ai-agent",
	"scopes": scopes,
	"actors": [],
	"delegation_depth": 0,
}

request(action, scopes, context) := {
	"action": action,
	"resource": {"type": "invoice", "id": "inv-1", "attributes": {}},
	"context": context,
	"principal": agent(scopes),
	"caller": {"api": "invoices-api", "audience": "https://invoices.example"},
	"state": {},
	"now": 1700000000,
}

test_allows_reading_invoices_with_the_read_scope if {
	d := verdict.decision with input as request("invoices:read", ["invoices:read"], {})
	d.effect == "allow"
	d.reasons == []
	d.obligations == []
}

test_denies_an_unknown_action if {
	d := verdict.decision with input as request("invoices:burn", ["invoices:read"], {})
	d.effect == "deny"
	d.reasons[0].code == "action_unknown"
	d.required_scopes == []
}

test_deny_names_every_scope_the_action_needs if {
	d := verdict.decision with input as request("invoices:dispute", ["invoices:read"], {})
	d.effect == "deny"
	d.reasons == [{"code": "insufficient_scope", "message": "invoices:dispute needs the scope invoices:write"}]
	d.required_scopes == ["invoices:write"]
}

test_deny_wins_over_step_up if {
	# no invoices:write and no MFA: the missing scope is what the client must fix first
	d := verdict.decision with input as request("invoices:dispute", [], {})
	d.effect == "deny"
	not d.step_up
}

test_step_up_carries_acr_values_without_max_age_when_none_is_set if {
	d := verdict.decision with input as request("invoices:dispute", ["invoices:write"], {})
	d.effect == "step_up"
	d.reasons[0].code == "step_up_required"
	d.step_up == {"acr_values": ["mfa"]}
}

test_step_up_carries_the_smallest_max_age if {
	settings := object.union(data.settings, {"actions": {"invoices:dispute": {"scopes": ["invoices:write"], "acr": "mfa", "max_age": 300}}})
	d := verdict.decision with input as request("invoices:dispute", ["invoices:write"], {}) with data.settings as settings
	d.step_up == {"acr_values": ["mfa"], "max_age": 300}
}

test_allow_carries_the_obligations if {
	d := verdict.decision with input as request("payments:transfer", ["payments:write"], {"amount": 100})
	d.effect == "allow"
	count(d.obligations) == 1
	d.obligations[0].type == "reserve"
}

test_no_state_is_queried_by_the_demo_policy if {
	q := verdict.state_queries with input as request("payments:transfer", ["payments:write"], {"amount": 100})
	q == []
}
