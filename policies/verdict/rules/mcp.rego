# MCP servers behind the SDK's MCP guard (data.settings.mcp). A tool call is checked
# as its own action (tools:<name> by default, with the tool's arguments as context),
# so its scopes, limits and step-ups are ordinary data.settings entries. Every other
# message (initialize, resources/read, a notification, a client's response, the GET
# stream) is checked with the session action and context.method (and context.uri or
# context.name, its target). Protocol messages do not count against an agent's
# request rate (rates.rego): only the methods in rate_counted_methods do.
package verdict.rules

mcp_settings := object.get(data.settings, "mcp", {})

is_mcp_session if input.action == object.get(mcp_settings, "session_action", "mcp:session")

# rates.rego counts no request for which this holds.
rate_exempt if {
	is_mcp_session
	not mcp_rate_counted
}

mcp_rate_counted if input.context.method in object.get(mcp_settings, "rate_counted_methods", [])

# Reading (or subscribing to) a resource under a configured URI prefix needs that prefix's scopes.
mcp_resource_scopes contains scope if {
	is_mcp_session
	input.context.method in {"resources/read", "resources/subscribe"}
	is_string(input.context.uri)
	some prefix, resource in object.get(mcp_settings, "resources", {})
	startswith(input.context.uri, prefix)
	some scope in resource.scopes
}

mcp_missing_scopes contains scope if {
	some scope in mcp_resource_scopes
	not scope in principal_scopes
}

required_scopes contains scope if {
	count(mcp_missing_scopes) > 0
	some scope in mcp_resource_scopes
}

deny contains {
	"rule": "mcp.resource_scope",
	"code": "insufficient_scope",
	"message": sprintf("reading %s needs the scope %s", [input.context.uri, concat(" ", sort(mcp_missing_scopes))]),
} if {
	count(mcp_missing_scopes) > 0
}
