# Single-use tokens for the most consequential actions (data.settings.single_use):
# the token's jti is consumed by Verdict (a once obligation, until the token
# expires), so a token that leaked or was replayed cannot act a second time.
package verdict.rules

single_use if input.action in data.settings.single_use.actions

single_use_token_id := input.principal.token_id if is_string(input.principal.token_id)

deny contains {
	"rule": "single_use.jti",
	"code": "single_use_needs_jti",
	"message": sprintf("%s needs a single-use token, identified by its jti", [input.action]),
} if {
	single_use
	not single_use_token_id
}

obligations contains {
	"rule": "single_use.once",
	"type": "once",
	"key": ["token", input.principal.issuer, single_use_token_id],
	"expires_at": input.principal.expires_at,
	"reason": {
		"code": "token_replayed",
		"message": sprintf("%s takes a single-use token, and this one was already used", [input.action]),
	},
} if {
	single_use
	single_use_token_id
}
