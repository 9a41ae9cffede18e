# Request rates of AI agents (data.settings.rates). Every allowed request of an
# agent is counted in a sliding minute per agent (issuer and client_id) and per user
# it acts for (issuer and sub), so neither one runaway agent nor many agents for one
# user can act at machine speed without bound. Counted atomically by Verdict (rate
# obligations).
# A request for which rate_exempt holds (an MCP protocol message, mcp.rego) is not counted.
package verdict.rules

obligations contains {
	"rule": "rates.per_agent",
	"type": "rate",
	"key": array.concat(["rate", "agent"], client_key(input.principal)),
	"limit": data.settings.rates.agent.per_minute,
	"window": "sliding:60",
	"reason": {
		"code": "rate_limited",
		"message": sprintf("an AI agent may make at most %v requests a minute", [data.settings.rates.agent.per_minute]),
	},
} if {
	is_agent
	not rate_exempt
	data.settings.rates.agent.per_minute
}

obligations contains {
	"rule": "rates.per_user",
	"type": "rate",
	"key": array.concat(["rate", "user"], principal_key(input.principal)),
	"limit": data.settings.rates.user.per_minute,
	"window": "sliding:60",
	"reason": {
		"code": "rate_limited",
		"message": sprintf("AI agents may make at most %v requests a minute for one user", [data.settings.rates.user.per_minute]),
	},
} if {
	is_agent
	not rate_exempt
	data.settings.rates.user.per_minute
}
