// Approvals: what waits for a person's yes (exactly what approving would allow),
// approve or refuse, and the history. Through features.ts (issue 17's API).
import { useEffect, useState } from "preact/hooks";
import { ApiError, type Session } from "../api.js";
import { approvals, type Approval } from "../features.js";

function ApprovalTable({ items, caption, actions }: { items: Approval[]; caption: string; actions?: (a: Approval) => preact.ComponentChildren }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Requested</th>
          <th scope="col">User</th>
          <th scope="col">Agent</th>
          <th scope="col">Action</th>
          <th scope="col">Resource</th>
          <th scope="col">Amount</th>
          <th scope="col">Status</th>
          {actions && <th scope="col">Decide</th>}
        </tr>
      </thead>
      <tbody>
        {items.map((a) => (
          <tr key={a.id}>
            <td>{new Date(a.requested_at).toLocaleString()}</td>
            <td>{a.subject}</td>
            <td>{a.client_id}</td>
            <td>{a.action}</td>
            <td>
              {a.resource.type}/{a.resource.id}
            </td>
            <td>{a.amount ?? "—"}</td>
            <td>
              {a.status}
              {a.decided_by ? ` by ${a.decided_by}` : ""}
            </td>
            {actions && <td>{actions(a)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ApprovalsPage({ session }: { session: Session }) {
  const [pending, setPending] = useState<Approval[]>([]);
  const [history, setHistory] = useState<Approval[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const load = () => {
    Promise.all([approvals.list("pending"), approvals.list("decided")])
      .then(([p, h]) => {
        setPending(p.approvals);
        setHistory(h.approvals);
      })
      .catch((e: unknown) => setMessage(e instanceof ApiError ? e.message : "Verdict did not answer."));
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
  const decide = (a: Approval, outcome: "approve" | "refuse") =>
    (outcome === "approve" ? approvals.approve(a.id) : approvals.refuse(a.id))
      .then(() => {
        setMessage(`${outcome === "approve" ? "Approved" : "Refused"}: ${a.action} on ${a.resource.type}/${a.resource.id} for ${a.subject}.`);
        load();
      })
      .catch((e: unknown) => setMessage(e instanceof ApiError ? e.message : "Verdict did not answer."));
  const canDecide = session.operator.scopes.includes("console:approve");
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
                <>
                  <button type="button" class="primary" onClick={() => void decide(a, "approve")}>
                    Approve
                  </button>{" "}
                  <button type="button" class="danger" onClick={() => void decide(a, "refuse")}>
                    Refuse
                  </button>
                </>
              ),
            }
          : {})}
      />
      <ApprovalTable items={history} caption="History" />
    </>
  );
}
