# Agent-specific rules. A client is an AI agent when its client_type is one of
# data.settings.agents.client_types. Agents may be barred from actions outright
# (denied_actions) and need the user's recent step-up for others (step_up, per
# action); their lower limits live with the limits (transactions.rego, bulk.rego,
# sensitive.rego).
package verdict.rules

is_agent if input.principal.client_type in data.settings.agents.client_types

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
