// How the CLI's tables show a chain of agents (RFC 8693 act): each actor's subject with the
// client it acted as, as the console shows one. Both, because a chain is bound by both:
// "planner via orch" and "mallory via orch" are different chains.

/**
 * A chain, outermost (current) actor first; "-" when the request came directly. A client_id or iss "" (the wire's
 * none) is none. An actor's issuer, when the token named one, follows its subject in parentheses.
 */
export function actorChain(actors: readonly { subject: string; client_id?: string; iss?: string }[]): string {
  if (actors.length === 0) return "-";
  return actors.map((actor) => `${actor.subject}${actor.iss ? ` (${actor.iss})` : ""}${actor.client_id ? ` via ${actor.client_id}` : ""}`).join(" > ");
}
