# Bulk operations (data.settings.bulk, per action). The number of items is, in a
# CheckBatch, how many items of the batch ask for this action (the batch is the
# operation, judged as a whole), else context.item_count. More than step_up_over
# items (agent_step_up_over for agents, never higher) needs the user's step-up;
# more than agent_deny_over is denied to agents whatever the authentication. Keep
# every threshold below max_batch_items (100 by default), or a batch can never
# reach it.
#
# An agent is also judged over time (agent_window): the items it asked for in the
# window (a sliding hour), read live before the decision, plus this operation's.
# More than its step_up_over needs the user's step-up; its limit is reserved
# atomically by Verdict (one per item of a batch, item_count for a single Check),
# so an agent cannot delete 10 invoices per batch forever below every threshold.
package verdict.rules

bulk := data.settings.bulk[input.action]

item_count := input.batch.actions[input.action]

item_count := input.context.item_count if {
	not input.batch
	is_number(input.context.item_count)
	input.context.item_count >= 1
	input.context.item_count == floor(input.context.item_count)
}

deny contains {
	"rule": "bulk.item_count",
	"code": "item_count_invalid",
	"message": sprintf("%s needs a whole number of at least 1 in context.item_count", [input.action]),
} if {
	bulk
	not item_count
}

deny contains {
	"rule": "bulk.agent_deny",
	"code": "bulk_limit_exceeded",
	"message": sprintf("an AI agent may not %s more than %v items at once", [input.action, bulk.agent_deny_over]),
} if {
	is_agent
	item_count > bulk.agent_deny_over
}

bulk_step_up_over := min({bulk.step_up_over, bulk.agent_step_up_over}) if {
	is_agent
	bulk.agent_step_up_over
} else := bulk.step_up_over

step_up_requirements contains requirement(
	"bulk.step_up",
	"bulk_step_up_required",
	sprintf("%s of more than %v items needs the user to authenticate again", [input.action, bulk_step_up_over]),
	object.get(bulk, "step_up", {}),
) if {
	item_count > bulk_step_up_over
}

# The agent's items over the window.
agent_window := bulk.agent_window if is_agent

agent_window_key := array.concat(["bulk", input.action, "agent"], client_key(input.principal))

state_queries contains {
	"name": "bulk_agent_items",
	"type": "counter",
	"key": agent_window_key,
	"window": agent_window.window,
} if {
	agent_window
}

# What this decision adds: one per item of a batch (each item is its own decision), else item_count.
agent_window_amount := 1 if input.batch

agent_window_amount := item_count if not input.batch

agent_window_total := object.get(input.state, "bulk_agent_items", 0) + item_count

step_up_requirements contains requirement(
	"bulk.agent_window_step_up",
	"bulk_step_up_required",
	sprintf(
		"an AI agent doing %s of more than %v items within %s needs the user to authenticate again",
		[input.action, agent_window.step_up_over, agent_window.window],
	),
	object.get(bulk, "step_up", {}),
) if {
	agent_window_total > agent_window.step_up_over
}

deny contains {
	"rule": "bulk.agent_window_deny",
	"code": "bulk_limit_exceeded",
	"message": sprintf("an AI agent may %s at most %v items within %s", [input.action, agent_window.limit, agent_window.window]),
} if {
	agent_window_total > agent_window.limit
}

obligations contains {
	"rule": "bulk.agent_window",
	"type": "reserve",
	"key": agent_window_key,
	"amount": agent_window_amount,
	"limit": agent_window.limit,
	"window": agent_window.window,
	"reason": {
		"code": "bulk_limit_exceeded",
		"message": sprintf("an AI agent may %s at most %v items within %s", [input.action, agent_window.limit, agent_window.window]),
	},
} if {
	agent_window
	item_count
}
