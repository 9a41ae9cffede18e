# Keys of real-time state (reserve and rate obligations, state queries). A subject
# or a client_id is unique only within its issuer: two issuers may both have a user
# "X" or an agent "agent-1". A key built with these functions names the issuer too,
# so they never share a budget or a rate. Build every key that is about a principal
# with them, never from input.principal.subject or client_id alone (docs/policies.md).
package verdict.rules

# The user the token is for: [issuer, subject].
principal_key(principal) := [principal.issuer, principal.subject]

# The client (the agent) that presents the token: [issuer, client_id].
client_key(principal) := [principal.issuer, principal.client_id]

# The user through that client: [issuer, subject, client_id].
principal_client_key(principal) := [principal.issuer, principal.subject, principal.client_id]
