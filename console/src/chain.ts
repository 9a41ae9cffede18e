// How the console shows a chain of agents (RFC 8693 act), as the CLI's tables do: each
// actor's subject, its issuer when the token named one, and the client it acted as,
// printable (each comes from a token).
import { printable } from "./printable.js";

export function chainText(actors: readonly { subject: string; client_id?: string; iss?: string }[]): string {
  if (actors.length === 0) return "none";
  return printable(
    actors.map((actor) => `${actor.subject}${actor.iss ? ` (${actor.iss})` : ""}${actor.client_id ? ` via ${actor.client_id}` : ""}`).join(" → "),
  );
}
