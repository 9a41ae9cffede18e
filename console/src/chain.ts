// How the console shows a chain of agents (RFC 8693 act), as the CLI's tables do: each
// actor's subject, its issuer when the token named one, and the client it acted as,
// printable (each comes from a token). The pages render each of these values in its own
// <bdi> (isolated.tsx's Chain), so that two right-to-left names never read swapped.
import { printable } from "./printable.js";

export interface Actor {
  subject: string;
  client_id?: string;
  iss?: string;
}

/** Each actor's values, printable, in the chain's order (the issuer and the client only when the token named them). */
export function chainActors(actors: readonly Actor[]): Actor[] {
  return actors.map((actor) => ({
    subject: printable(actor.subject),
    ...(actor.iss ? { iss: printable(actor.iss) } : {}),
    ...(actor.client_id ? { client_id: printable(actor.client_id) } : {}),
  }));
}
