// Values from tokens and requests side by side (the actors of a chain, an action and its
// resource): each in its own <bdi>, so that the Unicode bidirectional algorithm orders
// each value on its own. Without it two right-to-left names joined by " → " read in the
// reverse order, as neutral characters between two right-to-left runs take their
// direction (rule N1). <bdi> adds no character to the page's text.
import { Fragment } from "preact";
import { chainActors, type Actor } from "./chain.js";
import { printable } from "./printable.js";

/** `text` printable, isolated from what is around it. */
export function Value({ text }: { text: string }) {
  return <bdi>{printable(text)}</bdi>;
}

/** A chain of agents: each actor's subject, issuer and client, each isolated, separated by " → ". */
export function Chain({ actors }: { actors: readonly Actor[] }) {
  if (actors.length === 0) return <>none</>;
  return (
    <>
      {chainActors(actors).map((actor, i) => (
        <Fragment key={i}>
          {i > 0 && " → "}
          <bdi>{actor.subject}</bdi>
          {actor.iss !== undefined && (
            <>
              {" ("}
              <bdi>{actor.iss}</bdi>
              {")"}
            </>
          )}
          {actor.client_id !== undefined && (
            <>
              {" via "}
              <bdi>{actor.client_id}</bdi>
            </>
          )}
        </Fragment>
      ))}
    </>
  );
}
