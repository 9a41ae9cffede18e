# Which actions exist and the scopes each needs (data.settings.actions).
package verdict.rules

action_settings := data.settings.actions[input.action]

deny contains {
	"code": "action_unknown",
	"message": sprintf("the action \"%s\" is not known to the policy", [input.action]),
} if {
	not action_settings
}

missing_scopes contains scope if {
	some scope in action_settings.scopes
	not scope in input.principal.scopes
}

# All the scopes the action needs, named in the challenge when any is missing.
required_scopes contains scope if {
	count(missing_scopes) > 0
	some scope in action_settings.scopes
}

deny contains {
	"code": "insufficient_scope",
	"message": sprintf("%s needs the scope %s", [input.action, concat(" ", sort(missing_scopes))]),
} if {
	count(missing_scopes) > 0
}
