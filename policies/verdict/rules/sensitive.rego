# Sensitive data (data.settings.sensitive): exporting or sharing data whose
# resource.attributes.classification is listed (classifications; for agents
# agent_classifications as well) needs the user's step-up. A resource without a
# classification counts as PII: an API that forgets to say fails closed.
package verdict.rules

sensitive := data.settings.sensitive

default classification := "pii"

classification := input.resource.attributes.classification if is_string(input.resource.attributes.classification)

sensitive_classifications contains c if some c in sensitive.classifications

sensitive_classifications contains c if {
	is_agent
	some c in sensitive.agent_classifications
}

step_up_requirements contains requirement(
	"sensitive.step_up",
	"sensitive_data_step_up_required",
	sprintf("%s of %s data needs the user to authenticate again", [input.action, classification]),
	object.get(sensitive, "step_up", {}),
) if {
	input.action in sensitive.actions
	classification in sensitive_classifications
	not approval_needed # an agent's export needs the person's approval instead (approvals.rego)
}
