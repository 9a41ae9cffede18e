# Automatic brakes (data.settings.brakes): an AI agent that collects more than
# denials.limit denials in denials.window (a prompt-injected or looping agent) is
# suspended for denials.suspend_seconds on every replica (docs/suspensions.md).
# Every denial of an agent carries the suspend obligation; Verdict counts them
# atomically per agent (issuer and client_id) and suspends once past the limit.
package verdict.rules

brakes contains {
	"rule": "brakes.denials",
	"type": "suspend",
	"key": array.concat(["brake", "denials"], client_key(input.principal)),
	"target": "agent",
	"seconds": data.settings.brakes.denials.suspend_seconds,
	"after": data.settings.brakes.denials.limit,
	"window": data.settings.brakes.denials.window,
	"reason": {
		"code": "principal_suspended",
		"message": sprintf(
			"more than %v denials in %v: suspended for %vs by the demo policy's brake",
			[data.settings.brakes.denials.limit, data.settings.brakes.denials.window, data.settings.brakes.denials.suspend_seconds],
		),
	},
} if {
	is_agent
	data.settings.brakes.denials.limit
}
