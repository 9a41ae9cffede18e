# Transaction limits (data.settings.limits, per action). The amount is
# context.amount. A ceiling per transaction is checked here; the daily total per
# user, and for agents the daily total per user per agent, are reserved atomically
# by Verdict in MongoDB after the policy allows (reserve obligations), so parallel
# requests can never overspend them. Agents get a lower ceiling and need the
# user's step-up above agent.step_up_over.
package verdict.rules

limits := data.settings.limits[input.action]

amount := input.context.amount if {
	is_number(input.context.amount)
	input.context.amount > 0
}

deny contains {
	"rule": "transactions.amount",
	"code": "amount_invalid",
	"message": sprintf("%s needs a positive number in context.amount", [input.action]),
} if {
	limits
	not amount
}

# An agent's ceiling is the lower of the two, whatever the data says.
per_transaction_limit := min({limits.per_transaction, limits.agent.per_transaction}) if {
	is_agent
	limits.agent.per_transaction
} else := limits.per_transaction

deny contains {
	"rule": "transactions.per_transaction",
	"code": "limit_exceeded",
	"message": sprintf("a single %s may not exceed %v", [input.action, per_transaction_limit]),
} if {
	amount > per_transaction_limit
}

# The day's spend so far, read live (verdict/state_queries), so a transfer that
# cannot fit is refused saying what is left. The reservation below stays the
# authority: it is what holds when requests race.
state_queries contains {
	"name": "spent_today",
	"type": "counter",
	"key": array.concat([input.action, "daily_per_user"], principal_key(input.principal)),
	"window": "day",
} if {
	limits.daily_per_user
}

deny contains {
	"rule": "transactions.daily_remaining",
	"code": "limit_exceeded",
	"message": sprintf(
		"%v of this user's daily %s limit of %v is left",
		[max({0, limits.daily_per_user - input.state.spent_today}), input.action, limits.daily_per_user],
	),
} if {
	amount
	input.state.spent_today + amount > limits.daily_per_user
}

obligations contains {
	"rule": "transactions.daily_per_user",
	"type": "reserve",
	"key": array.concat([input.action, "daily_per_user"], principal_key(input.principal)),
	"amount": amount,
	"limit": limits.daily_per_user,
	"window": "day",
	"reason": {
		"code": "limit_exceeded",
		"message": sprintf("the daily %s limit of %v for this user would be exceeded", [input.action, limits.daily_per_user]),
	},
} if {
	limits.daily_per_user
	amount
}

obligations contains {
	"rule": "transactions.daily_per_user_per_agent",
	"type": "reserve",
	"key": array.concat([input.action, "daily_per_user_per_agent"], principal_client_key(input.principal)),
	"amount": amount,
	"limit": limits.agent.daily_per_user_per_agent,
	"window": "day",
	"reason": {
		"code": "limit_exceeded",
		"message": sprintf(
			"the daily %s limit of %v for this user through this agent would be exceeded",
			[input.action, limits.agent.daily_per_user_per_agent],
		),
	},
} if {
	is_agent
	limits.agent.daily_per_user_per_agent
	amount
}

step_up_requirements contains requirement(
	"transactions.agent_step_up",
	"amount_step_up_required",
	sprintf("an AI agent doing %s of more than %v needs the user to authenticate again", [input.action, limits.agent.step_up_over]),
	object.get(limits.agent, "step_up", {}),
) if {
	is_agent
	amount > limits.agent.step_up_over
	not approval_needed # the person approves this very request instead (approvals.rego)
}
