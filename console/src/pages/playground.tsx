// The policy playground: an input evaluated by the active and the shadow bundle side
// by side. Nothing is written: no state, no obligation, no audit record. What the policy
// answers (it may quote the input) is shown printable.
import { useState } from "preact/hooks";
import { api, problemOf, type Session, type SideResult } from "../api.js";
import { printable, printableJson } from "../printable.js";

const EXAMPLE = {
  principal: { subject: "alice", client_id: "agent-1", client_type: "ai-agent", scopes: ["payments:write"] },
  action: "payments:transfer",
  resource: { type: "account", id: "acc-1" },
  context: { amount: 150 },
  state: {},
};

function Side({ title, side }: { title: string; side: SideResult | undefined }) {
  return (
    <section class="side" aria-label={title}>
      <h2>{title}</h2>
      {!side ? (
        <p class="note">No shadow bundle is loaded.</p>
      ) : side.busy ? (
        <p class="note">Every policy worker is busy with decisions; try again.</p>
      ) : (
        <>
          <p>
            Revision <code>{side.revision}</code>
          </p>
          {side.error && <p class="problem">{printable(`${side.error.code}: ${side.error.message}`)}</p>}
          {side.decision && (
            <>
              <p class="effect">
                <span class={`badge ${side.decision.effect === "allow" ? "allow" : side.decision.effect === "deny" ? "deny" : "step_up"}`}>
                  {side.decision.effect.toUpperCase()}
                </span>
              </p>
              <h3>Reasons</h3>
              <ul>
                {side.decision.reasons.map((r) => (
                  <li key={r.code}>
                    <code>{printable(r.code)}</code>: {printable(r.message)}
                  </li>
                ))}
                {side.decision.reasons.length === 0 && <li>none</li>}
              </ul>
              <h3>Obligations</h3>
              <pre tabIndex={0}>{side.decision.obligations.length ? printableJson(side.decision.obligations, 2) : "none"}</pre>
              {side.decision.step_up && (
                <>
                  <h3>Step-up</h3>
                  <pre tabIndex={0}>{printableJson(side.decision.step_up, 2)}</pre>
                </>
              )}
              <h3>Explain</h3>
              <ul>
                {side.decision.explain.map((e, i) => (
                  <li key={i}>
                    <code>{printable(e.rule)}</code> ({printable(e.kind)}): {printable(e.message)}
                  </li>
                ))}
                {side.decision.explain.length === 0 && <li>no rule fired</li>}
              </ul>
            </>
          )}
          <h3>State it reads</h3>
          <pre tabIndex={0}>{side.state_queries?.length ? printableJson(side.state_queries, 2) : "none"}</pre>
        </>
      )}
    </section>
  );
}

export function PlaygroundPage({ session }: { session: Session }) {
  const [text, setText] = useState(JSON.stringify(EXAMPLE, null, 2));
  const [result, setResult] = useState<{ active: SideResult; shadow?: SideResult } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    let input: unknown;
    try {
      input = JSON.parse(text);
    } catch (e) {
      setError(printable(`The input is not JSON: ${(e as Error).message}`));
      return;
    }
    try {
      setResult(await api.playground(input));
      setError(null);
    } catch (e) {
      setError(problemOf(e));
    }
  };
  return (
    <>
      <h1>Policy playground</h1>
      <p>Evaluates an input with the active bundle and the shadow bundle. Nothing is written: no state, no obligation, no audit record.</p>
      {!session.operator.scopes.includes("console:evaluate") && <p class="note">Your token does not carry console:evaluate.</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label for="input">Input: principal, action, resource, context and state (what the policy's state queries would read)</label>
        <textarea id="input" rows={16} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit" class="primary">
          Evaluate
        </button>
      </form>
      {error && (
        <p class="problem" role="alert">
          {error}
        </p>
      )}
      {result && (
        <div class="sides">
          <Side title="Active bundle" side={result.active} />
          <Side title="Shadow bundle" side={result.shadow} />
        </div>
      )}
    </>
  );
}
