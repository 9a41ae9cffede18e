# Actions that need a stronger authentication of the user (RFC 9470): the token's
# acr must reach the action's level (data.settings.acr_levels), and when the action
# sets max_age, the authentication must be that recent.
package verdict.rules

default principal_acr_level := 0

principal_acr_level := data.settings.acr_levels[input.principal.acr]

step_up contains {
	"code": "step_up_required",
	"message": sprintf("%s needs an authentication of level %s", [input.action, needed]),
	"acr": needed,
	"max_age": object.get(action_settings, "max_age", false),
} if {
	needed := action_settings.acr
	principal_acr_level < data.settings.acr_levels[needed]
}

step_up contains {
	"code": "authentication_too_old",
	"message": sprintf("%s needs an authentication within the last %d seconds", [input.action, action_settings.max_age]),
	"acr": action_settings.acr,
	"max_age": action_settings.max_age,
} if {
	principal_acr_level >= data.settings.acr_levels[action_settings.acr]
	not authenticated_within(action_settings.max_age)
}

authenticated_within(max_age) if {
	input.now - input.principal.auth_time <= max_age
}
