# Bulk operations (data.settings.bulk, per action). The number of items is, in a
# CheckBatch, how many items of the batch ask for this action (the batch is the
# operation, judged as a whole), else context.item_count. More than step_up_over
# items (agent_step_up_over for agents, never higher) needs the user's step-up;
# more than agent_deny_over is denied to agents whatever the authentication.
package verdict.rules

bulk := data.settings.bulk[input.action]

item_count := input.batch.actions[input.action] if input.batch

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
