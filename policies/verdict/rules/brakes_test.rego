package verdict.rules_test

import data.verdict.rules

denied(principal) := {
	"action": "invoices:burn",
	"now": 1700000000,
	"principal": object.union({"subject": "user-9", "issuer": "https://issuer.example", "client_id": "agent-7", "scopes": ["invoices:read"]}, principal),
}

test_an_agents_denials_carry_the_brake_from_data if {
	rules.brakes with input as denied({"client_type": "ai-agent"}) == {{
		"rule": "brakes.denials", "type": "suspend", "key": ["brake", "denials", "https://issuer.example", "agent-7"],
		"target": "agent", "seconds": 600, "after": 20, "window": "sliding:60",
		"reason": {"code": "principal_suspended", "message": "more than 20 denials in sliding:60: suspended for 600s by the demo policy's brake"},
	}}
}

test_a_person_is_never_braked if {
	rules.brakes with input as denied({"client_type": "web"}) == set()
}

test_without_brake_settings_there_is_no_brake if {
	rules.brakes with input as denied({"client_type": "ai-agent"}) with data.settings.brakes as {} == set()
}
