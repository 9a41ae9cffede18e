package verdict.rules_test

import data.verdict
import data.verdict.rules

mcp_input(context, principal) := {
	"action": "mcp:session",
	"resource": {"type": "mcp_server", "id": "", "attributes": {}},
	"context": context,
	"now": 1700000000,
	"principal": object.union({"issuer": "https://issuer.example", "subject": "user-9", "client_id": "dev-client-1", "client_type": "ai-agent", "scopes": ["invoices:read"]}, principal),
}

mcp_rates(inp) := {o.rule | some o in rules.obligations with input as inp; o.type == "rate"}

test_an_mcp_protocol_message_is_allowed_and_not_counted_against_the_agent_rate if {
	some method in ["initialize", "notifications/initialized", "ping", "tools/list"]
	inp := mcp_input({"kind": "request", "method": method}, {})
	verdict.decision.effect == "allow" with input as inp
	mcp_rates(inp) == set()
}

test_the_get_stream_and_a_client_response_are_not_counted if {
	mcp_rates(mcp_input({"kind": "http", "http_method": "GET"}, {})) == set()
	mcp_rates(mcp_input({"kind": "response"}, {})) == set()
}

test_a_resource_read_counts_against_the_agent_rate if {
	mcp_rates(mcp_input({"kind": "request", "method": "resources/read", "uri": "invoice://inv-1"}, {})) == {"rates.per_agent", "rates.per_user"}
}

test_reading_an_invoice_resource_needs_invoices_read if {
	inp := mcp_input({"kind": "request", "method": "resources/read", "uri": "invoice://inv-1"}, {"scopes": []})
	d := verdict.decision with input as inp
	d.effect == "deny"
	[r.code | some r in d.reasons] == ["insufficient_scope"]
	d.required_scopes == ["invoices:read"]
}

test_reading_a_resource_under_no_configured_prefix_needs_no_scope if {
	inp := mcp_input({"kind": "request", "method": "resources/read", "uri": "note://n-1"}, {"scopes": []})
	verdict.decision.effect == "allow" with input as inp
}

test_a_session_action_named_in_data_is_the_one_exempted if {
	inp := object.union(mcp_input({"kind": "request", "method": "ping"}, {}), {"action": "mcp:other"})
	not rules.rate_exempt with input as inp
}

test_without_mcp_settings_no_resource_scope_applies if {
	inp := mcp_input({"kind": "request", "method": "resources/read", "uri": "invoice://inv-1"}, {"scopes": []})
	settings := object.remove(data.settings, ["mcp"])
	count(rules.mcp_resource_scopes) == 0 with input as inp with data.settings as settings
	rules.rate_exempt with input as inp with data.settings as settings
}
