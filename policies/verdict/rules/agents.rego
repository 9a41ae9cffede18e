# Agent-specific rules. A client is treated as an AI agent unless it is known to be
# a person's: its client_type is one of data.settings.agents.human_client_types
# (and not one of client_types), and the token carries no delegation (an RFC 8693
# act chain: someone acts for the user). A missing or unknown client_type, and any
# delegated token, is an agent: an agent that does not say what it is gets the
# agent limits, not the human ones (fail closed). Verdict trims and lowercases
# client_type before the policy sees it; the rule does it again for inputs from
# elsewhere. Agents may be barred from actions outright (denied_actions) and need
# the user's recent step-up for others (step_up, per action); their lower limits
# live with the limits (transactions.rego, bulk.rego, sensitive.rego).
package verdict.rules

client_type := lower(trim_space(input.principal.client_type)) if is_string(input.principal.client_type)

default is_agent := true

is_agent := false if is_human

is_human if {
	client_type in object.get(data.settings.agents, "human_client_types", [])
	not client_type in object.get(data.settings.agents, "client_types", [])
	not delegated
}

delegated if count(object.get(input.principal, "actors", [])) > 0

delegated if object.get(input.principal, "delegation_depth", 0) > 0

deny contains {
	"rule": "agents.denied_action",
	"code": "agent_action_forbidden",
	"message": sprintf("%s may not be done by an AI agent", [input.action]),
} if {
	is_agent
	input.action in data.settings.agents.denied_actions
}

step_up_requirements contains requirement(
	"agents.step_up",
	"agent_step_up_required",
	sprintf("an AI agent doing %s needs the user to authenticate again", [input.action]),
	data.settings.agents.step_up[input.action],
) if {
	is_agent
}
