# Which actions exist and the scopes each needs (data.settings.actions).
package verdict.rules

action_settings := data.settings.actions[input.action]

deny contains {
	"rule": "scopes.action_unknown",
	"code": "action_unknown",
	"message": sprintf("the action \"%s\" is not known to the policy", [input.action]),
} if {
	not action_settings
}

# A principal whose scopes are absent or not a list has none (never "all").
default principal_scopes := []

principal_scopes := input.principal.scopes if is_array(input.principal.scopes)

missing_scopes contains scope if {
	some scope in action_settings.scopes
	not scope in principal_scopes
}

# All the scopes the action needs, named in the challenge when any is missing.
required_scopes contains scope if {
	count(missing_scopes) > 0
	some scope in action_settings.scopes
}

deny contains {
	"rule": "scopes.insufficient_scope",
	"code": "insufficient_scope",
	"message": sprintf("%s needs the scope %s", [input.action, concat(" ", sort(missing_scopes))]),
} if {
	count(missing_scopes) > 0
}
