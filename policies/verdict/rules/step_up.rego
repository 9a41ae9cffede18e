# Step-up freshness (RFC 9470). Modules add step_up_requirements ({rule, code,
# message, acr, max_age?}); this one turns each requirement the token does not meet
# into a step-up: its own code when the token's acr is below the required level
# (data.settings.acr_levels), authentication_too_old when the level is enough but
# auth_time is older than max_age (or absent). The action's own acr/max_age
# (data.settings.actions) is the first requirement.
package verdict.rules

default principal_acr_level := 0

principal_acr_level := data.settings.acr_levels[input.principal.acr]

# The strongest level known: a requirement that names no acr asks for it (fail closed).
strongest_acr := [acr |
	some acr, level in data.settings.acr_levels
	level == max([l | some l in data.settings.acr_levels])
][0]

acr_reaches(acr) if principal_acr_level >= data.settings.acr_levels[acr]

authenticated_within(max_age) if input.now - input.principal.auth_time <= max_age

# A requirement from a settings object {acr?, max_age?}.
requirement(rule, code, message, spec) := object.union(
	{"rule": rule, "code": code, "message": message, "acr": object.get(spec, "acr", strongest_acr)},
	object.filter(spec, ["max_age"]),
)

step_up_requirements contains requirement(
	"step_up.action",
	"step_up_required",
	sprintf("%s needs an authentication of level %s", [input.action, action_settings.acr]),
	action_settings,
) if {
	action_settings.acr
}

step_up contains {
	"rule": req.rule,
	"code": req.code,
	"message": req.message,
	"acr": req.acr,
	"max_age": object.get(req, "max_age", false),
} if {
	some req in step_up_requirements
	not acr_reaches(req.acr)
}

step_up contains {
	"rule": req.rule,
	"code": "authentication_too_old",
	"message": sprintf("%s; the last authentication must be within %v seconds", [req.message, req.max_age]),
	"acr": req.acr,
	"max_age": req.max_age,
} if {
	some req in step_up_requirements
	acr_reaches(req.acr)
	is_number(req.max_age)
	not authenticated_within(req.max_age)
}
