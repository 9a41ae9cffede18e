# Amount limits (data.settings.limits, per action): a ceiling per transaction,
# checked here, and a daily total per user, reserved atomically by Verdict in
# MongoDB after the policy allows (a reserve obligation), so that parallel
# requests can never overspend it.
package verdict.rules

limits := data.settings.limits[input.action]

amount := input.context.amount if {
	is_number(input.context.amount)
	input.context.amount > 0
}

deny contains {
	"code": "amount_invalid",
	"message": sprintf("%s needs a positive number in context.amount", [input.action]),
} if {
	limits
	not amount
}

deny contains {
	"code": "limit_exceeded",
	"message": sprintf("a single %s may not exceed %v", [input.action, limits.per_transaction]),
} if {
	amount > limits.per_transaction
}

obligations contains {
	"type": "reserve",
	"key": [input.action, "daily_per_user", input.principal.subject],
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
