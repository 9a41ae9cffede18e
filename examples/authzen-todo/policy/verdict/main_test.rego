# The Todo scenario's roles, one permission at a time. The 40 decisions of the
# interop file (and its batch cases) are run through the HTTP endpoint by
# test/e2e/authzen-todo.test.ts.
package verdict_test

import data.verdict

users := {
	"rick": {"email": "rick@the-citadel.com", "roles": ["admin", "evil_genius"]},
	"morty": {"email": "morty@the-citadel.com", "roles": ["editor"]},
	"beth": {"email": "beth@the-smiths.com", "roles": ["viewer"]},
	"stranger": {},
}

request(user, action, owner) := {
	"action": action,
	"resource": {"type": "todo", "id": "t-1", "attributes": {"ownerID": owner}},
	"context": {},
	"authzen": {
		"subject": {"type": "user", "id": user, "properties": users[user], "known": user != "stranger"},
		"resource": {"type": "todo", "id": "t-1", "properties": {"ownerID": owner}, "known": false},
		"action": {"name": action, "properties": {}, "known": false},
	},
}

allows(user, action, owner) if verdict.decision.effect == "allow" with input as request(user, action, owner)

reason(user, action, owner) := d.reasons[0].code if {
	d := verdict.decision with input as request(user, action, owner)
}

test_everyone_reads_users_and_todos if {
	every user in object.keys(users) {
		allows(user, "can_read_user", "")
		allows(user, "can_read_todos", "")
	}
}

test_editors_admins_and_evil_geniuses_create_todos if {
	allows("rick", "can_create_todo", "")
	allows("morty", "can_create_todo", "")
	not allows("beth", "can_create_todo", "")
	reason("beth", "can_create_todo", "") == "role_required"
}

test_an_editor_updates_and_deletes_only_own_todos if {
	allows("morty", "can_update_todo", "morty@the-citadel.com")
	allows("morty", "can_delete_todo", "morty@the-citadel.com")
	not allows("morty", "can_update_todo", "rick@the-citadel.com")
	not allows("morty", "can_delete_todo", "rick@the-citadel.com")
	reason("morty", "can_delete_todo", "rick@the-citadel.com") == "not_owner"
}

test_an_evil_genius_updates_anyones_todos if allows("rick", "can_update_todo", "beth@the-smiths.com")

test_an_admin_deletes_anyones_todos if allows("rick", "can_delete_todo", "morty@the-citadel.com")

test_a_viewer_changes_nothing if {
	not allows("beth", "can_update_todo", "beth@the-smiths.com")
	not allows("beth", "can_delete_todo", "beth@the-smiths.com")
	reason("beth", "can_update_todo", "beth@the-smiths.com") == "role_required"
}

test_an_unknown_user_only_reads if {
	allows("stranger", "can_read_todos", "")
	not allows("stranger", "can_create_todo", "")
	not allows("stranger", "can_update_todo", "")
}

test_a_todo_without_an_owner_is_nobodys if not allows("morty", "can_update_todo", null)

test_unknown_permissions_are_denied if reason("rick", "can_fly", "") == "unknown_permission"

test_a_check_without_authzen_entities_is_denied if {
	d := verdict.decision with input as {"action": "can_create_todo", "resource": {"type": "todo", "id": "t", "attributes": {}}, "context": {}}
	d.reasons[0].code == "authzen_only"
}

test_no_state_is_needed if verdict.state_queries == []
