// Approvals: what waits for a person's yes (exactly what approving would allow),
// approve or refuse with the approver's own token, and the history. Through
// features.ts (issue 17's approvals). Every value from the request or a token is shown
// printable, each value in its own <bdi> (isolated.tsx): a person approves what they read,
// in the order it is.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { problemOf, type Session } from "../api.js";
import { approvals, type Approval } from "../features.js";
import { Chain, Value } from "../isolated.js";
import { printable, printableJson } from "../printable.js";

/** What approving would allow, as text (for a label). */
function whatText(a: Approval): string {
  const amount = a.context["amount"];
  return printable(`${a.action} on ${a.resource.type}/${a.resource.id}${typeof amount === "number" ? ` for ${amount}` : ""}`);
}

/** What approving would allow, as the page shows it: the action, the resource and the amount each isolated. */
function What({ a }: { a: Approval }) {
  const amount = a.context["amount"];
  return (
    <>
      <Value text={a.action} /> on <Value text={`${a.resource.type}/${a.resource.id}`} />
      {typeof amount === "number" && (
        <>
          {" for "}
          <Value text={String(amount)} />
        </>
      )}
    </>
  );
}

function ApprovalTable({ items, caption, actions }: { items: Approval[]; caption: string; actions?: (a: Approval) => ComponentChildren }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Requested</th>
          <th scope="col">User</th>
          <th scope="col">Agent</th>
          <th scope="col">Actor chain</th>
          <th scope="col">Would allow</th>
          <th scope="col">Bound request fields</th>
          <th scope="col">API</th>
          <th scope="col">Status</th>
          {actions && <th scope="col">Decide</th>}
        </tr>
      </thead>
      <tbody>
        {items.map((a) => (
          <tr key={a.approval_id}>
            <td>{new Date(a.created_at).toLocaleString()}</td>
            <td>
              <Value text={a.subject} />
            </td>
            <td>
              <Value text={a.client_id} />
            </td>
            <td>
              <Chain actors={a.actors} />
            </td>
            <td>
              <What a={a} />
            </td>
            <td>
              <code>{printableJson(a.context)}</code>
            </td>
            <td>{printable(a.api)}</td>
            <td>
              {a.status}
              {a.decided_by && (
                <>
                  {" by "}
                  <Value text={a.decided_by.subject} />
                  {a.decided_by.reason && (
                    <>
                      {" ("}
                      <Value text={a.decided_by.reason} />
                      {")"}
                    </>
                  )}
                </>
              )}
            </td>
            {actions && <td>{actions(a)}</td>}
          </tr>
        ))}
        {items.length === 0 && (
          <tr>
            <td colSpan={actions ? 9 : 8}>None.</td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function DecideForm({ approval, onDone }: { approval: Approval; onDone: (message: ComponentChildren) => void }) {
  const [token, setToken] = useState("");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const decide = (outcome: "approve" | "refuse") =>
    approvals
      .decide(approval.approval_id, outcome, token, reason)
      .then(() =>
        onDone(
          <>
            {outcome === "approve" ? "Approved" : "Refused"}: <What a={approval} /> for <Value text={approval.subject} />.
          </>,
        ),
      )
      .catch((e: unknown) => setError(problemOf(e)));
  const needs = [
    approval.acr_values.length ? `acr ${approval.acr_values.join(" or ")}` : "",
    approval.max_age !== undefined ? `signed in within ${approval.max_age} s` : "",
    approval.scopes.length ? `scope ${approval.scopes.join(" ")}` : "",
  ].filter(Boolean);
  return (
    <form
      class="decide"
      aria-label={`Decide ${whatText(approval)}`}
      onSubmit={(e) => {
        e.preventDefault();
      }}
    >
      <label for={`approver-${approval.approval_id}`}>
        The approver's own access token for <Value text={approval.api} />
        {needs.length ? ` (${needs.join(", ")})` : ""}
      </label>
      <textarea
        id={`approver-${approval.approval_id}`}
        rows={3}
        autocomplete="off"
        spellcheck={false}
        value={token}
        onInput={(e) => setToken(e.currentTarget.value)}
      />
      <label for={`reason-${approval.approval_id}`}>Reason (optional)</label>
      <input id={`reason-${approval.approval_id}`} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <button type="button" class="primary" disabled={!token.trim()} onClick={() => void decide("approve")}>
        Approve
      </button>{" "}
      <button type="button" class="danger" disabled={!token.trim()} onClick={() => void decide("refuse")}>
        Refuse
      </button>
      {error && (
        <p class="problem" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

export function ApprovalsPage({ session }: { session: Session }) {
  const [pending, setPending] = useState<Approval[]>([]);
  const [history, setHistory] = useState<Approval[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [message, setMessage] = useState<ComponentChildren>(null);
  const load = () => {
    Promise.all([approvals.list("pending"), approvals.list("decided")])
      .then(([p, h]) => {
        setPending(p.approvals);
        setHistory(h.approvals);
      })
      .catch((e: unknown) => setMessage(problemOf(e)));
  };
  useEffect(() => {
    if (session.features.approvals) load();
  }, []);
  if (!session.features.approvals) {
    return (
      <>
        <h1>Approvals</h1>
        <p class="note">Approvals are not part of this Verdict yet.</p>
      </>
    );
  }
  const canDecide = session.operator.scopes.includes("console:approve");
  const chosen = pending.find((a) => a.approval_id === open);
  return (
    <>
      <h1>Approvals</h1>
      {message && <p role="status">{message}</p>}
      <ApprovalTable
        items={pending}
        caption={`${pending.length} pending`}
        {...(canDecide
          ? {
              actions: (a: Approval) => (
                <button type="button" onClick={() => setOpen(a.approval_id)}>
                  Decide
                </button>
              ),
            }
          : {})}
      />
      {chosen && (
        <DecideForm
          approval={chosen}
          onDone={(text) => {
            setMessage(text);
            setOpen(null);
            load();
          }}
        />
      )}
      <ApprovalTable items={history} caption="History" />
    </>
  );
}
