# Approvals (docs/approvals.md): actions an AI agent may do only with the user's
# yes to the exact request (data.settings.approvals[action]): always, when the
# amount is over agent_over, or (only_sensitive) when the data is sensitive
# (sensitive.rego). The approval is bound to the named context fields
# (a changed amount is another request), must be given with a token of acr (or
# stronger) within max_age that carries the action's scopes (or the settings'
# scopes), and expires after expires_in seconds. It stands in
# for the agent's authentication step-up on the same action: the person proves
# themselves when they approve.
package verdict.rules

approval_settings := data.settings.approvals[input.action]

approval_needed if {
	is_agent
	approval_settings
	not approval_settings.agent_over
	not approval_settings.only_sensitive
}

approval_needed if {
	is_agent
	approval_settings.only_sensitive
	classification in sensitive_classifications
}

approval_needed if {
	is_agent
	amount > approval_settings.agent_over
}

# Every acr at least as strong as the settings' (or the strongest known).
approval_acr_values := sort([acr |
	some acr, level in data.settings.acr_levels
	level >= data.settings.acr_levels[object.get(approval_settings, "acr", strongest_acr)]
])

# The scopes the deciding person's token must carry: the settings' own, else the
# action's (a person approves only what their own token may do).
approval_scopes := sort(approval_settings.scopes) if approval_settings.scopes

else := sort(object.get(action_settings, "scopes", []))

approvals contains object.union(
	{
		"rule": "approvals.required",
		"code": "approval_required",
		"message": approval_message,
		"fields": object.get(approval_settings, "fields", []),
		"expires_in": object.get(approval_settings, "expires_in", 600),
		"acr_values": approval_acr_values,
		"scopes": approval_scopes,
	},
	object.filter(approval_settings, ["max_age", "approvers", "authorization_details"]),
) if {
	approval_needed
}

approval_message := sprintf("an AI agent doing %s of more than %v needs the user's approval of this request", [input.action, approval_settings.agent_over]) if approval_settings.agent_over

else := sprintf("an AI agent doing %s needs the user's approval of this request", [input.action])
