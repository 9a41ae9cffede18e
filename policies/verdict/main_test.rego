package verdict_test

import data.verdict

human(scopes) := {
	"subject": "user-123",
	"issuer": "https://issuer.example",
	"client_id": "web-app",
	"client_type": "web",
	"scopes": scopes,
	"actors": [],
	"delegation_depth": 0,
}

request(action, principal, context) := {
	"action": action,
	"resource": {"type": "invoice", "id": "inv-1", "attributes": {}},
	"context": context,
	"principal": principal,
	"caller": {"api": "invoices-api", "audience": "https://invoices.example"},
	"state": {},
	"now": 1700000000,
}

test_allows_reading_invoices_with_the_read_scope if {
	d := verdict.decision with input as request("invoices:read", human(["invoices:read"]), {})
	d.effect == "allow"
	d.reasons == []
	d.obligations == []
	d.explain == []
}

test_deny_names_every_scope_the_action_needs if {
	d := verdict.decision with input as request("invoices:dispute", human(["invoices:read"]), {})
	d.effect == "deny"
	d.reasons == [{"code": "insufficient_scope", "message": "invoices:dispute needs the scope invoices:write"}]
	d.required_scopes == ["invoices:write"]
}

test_a_persons_deny_carries_no_obligations_and_no_step_up if {
	d := verdict.decision with input as request("invoices:dispute", human([]), {})
	d.effect == "deny"
	not d.step_up
	d.obligations == []
}

test_an_agents_deny_carries_only_the_brake if {
	agent := object.union(human([]), {"client_id": "agent-7", "client_type": "ai-agent"})
	d := verdict.decision with input as request("invoices:dispute", agent, {})
	d.effect == "deny"
	[o.type | some o in d.obligations] == ["suspend"]
}

test_reasons_carry_only_code_and_message if {
	d := verdict.decision with input as request("invoices:burn", human([]), {})
	every r in d.reasons {
		object.keys(r) == {"code", "message"}
	}
}

test_step_up_without_max_age_when_no_requirement_sets_one if {
	d := verdict.decision with input as request("invoices:dispute", human(["invoices:write"]), {})
	d.effect == "step_up"
	d.step_up == {"acr_values": ["mfa"]}
}

test_step_up_asks_for_the_strongest_level_and_the_smallest_max_age if {
	settings := object.union(data.settings, {
		"actions": {"invoices:dispute": {"scopes": ["invoices:write"], "acr": "phr", "max_age": 900}},
		"agents": {"step_up": {"invoices:dispute": {"acr": "mfa", "max_age": 60}}},
	})
	p := object.union(human(["invoices:write"]), {"client_type": "ai-agent", "acr": "pwd"})
	d := verdict.decision with input as request("invoices:dispute", p, {}) with data.settings as settings
	d.step_up == {"acr_values": ["phr"], "max_age": 60}
	count(d.reasons) == 2
}

test_an_allow_strips_the_rule_from_its_obligations_and_explains_them if {
	d := verdict.decision with input as request("payments:transfer", human(["payments:write"]), {"amount": 100})
	d.effect == "allow"
	d.obligations == [{
		"type": "reserve",
		"key": ["payments:transfer", "daily_per_user", "https://issuer.example", "user-123"],
		"amount": 100,
		"limit": 1000,
		"window": "day",
		"reason": {"code": "limit_exceeded", "message": "the daily payments:transfer limit of 1000 for this user would be exceeded"},
	}]
	d.explain == [{
		"kind": "obligation",
		"rule": "transactions.daily_per_user",
		"code": "reserve",
		"obligation": d.obligations[0],
	}]
}

test_an_entry_without_a_rule_is_explained_as_unnamed if {
	h := verdict.hit("deny", {"code": "x", "message": "m"}, "x", "m")
	h.rule == "unnamed"
}

test_a_transfer_reads_the_users_spend_today if {
	q := verdict.state_queries with input as request("payments:transfer", human(["payments:write"]), {"amount": 100})
	q == [{"name": "spent_today", "type": "counter", "key": ["payments:transfer", "daily_per_user", "https://issuer.example", "user-123"], "window": "day"}]
}

test_reading_an_invoice_reads_no_state if {
	q := verdict.state_queries with input as request("invoices:read", human(["invoices:read"]), {})
	q == []
}

test_explain_carries_every_obligation_it_names_for_verdict_to_word if {
	agent := object.union(human(["accounts:write"]), {"client_id": "agent-7", "client_type": "ai-agent", "token_id": "jti-1", "issuer": "i", "acr": "phr", "auth_time": 1700000000})
	d := verdict.decision with input as request("invoices:read", object.union(agent, {"scopes": ["invoices:read"]}), {})
	hits := [h | some h in d.explain; h.kind == "obligation"]
	count(hits) == count(d.obligations)
	every h in hits {
		not h.message
		h.obligation.type == h.code
	}
	explained := {h.rule: h.obligation | some h in hits}
	explained["rates.per_agent"] == {"type": "rate", "key": ["rate", "agent", "i", "agent-7"], "limit": 120, "window": "sliding:60", "reason": explained["rates.per_agent"].reason}
}
