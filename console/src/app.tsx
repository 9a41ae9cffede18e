// The console's frame: the sign-in prompt when there is no usable token, else the
// navigation and the page the location's hash names (#/decisions, #/agents/…).
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, signIn, signOut, token, whenSignInNeeded, type Session } from "./api.js";
import { AgentsPage } from "./pages/agents.js";
import { ApprovalsPage } from "./pages/approvals.js";
import { DecisionsPage } from "./pages/decisions.js";
import { PlaygroundPage } from "./pages/playground.js";
import { SignInPage } from "./pages/sign-in.js";

function useHash(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const changed = () => setParts(read());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return parts;
}

const PAGES = [
  ["decisions", "Decisions"],
  ["agents", "Agents"],
  ["approvals", "Approvals"],
  ["playground", "Policy playground"],
] as const;

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [checking, setChecking] = useState(token() !== null);
  const [page = "decisions", ...rest] = useHash();

  const load = () => {
    if (!token()) {
      setSession(null);
      setChecking(false);
      return;
    }
    setChecking(true);
    api
      .session()
      .then((s) => {
        setSession(s);
        setProblem(null);
      })
      .catch((error: unknown) => {
        setSession(null);
        setProblem(error instanceof ApiError ? error.message : "Verdict did not answer.");
      })
      .finally(() => setChecking(false));
  };
  useEffect(() => {
    whenSignInNeeded((error) => {
      signOut();
      setSession(null);
      setProblem(error.message);
    });
    load();
  }, []);

  if (checking) return <main class="centered">Checking your sign-in…</main>;
  if (!session) {
    return (
      <SignInPage
        problem={problem}
        onToken={(value) => {
          signIn(value);
          load();
        }}
      />
    );
  }
  return (
    <>
      <header class="top">
        <span class="brand">Verdict console</span>
        <nav aria-label="Pages">
          {PAGES.map(([id, label]) => (
            <a href={`#/${id}`} aria-current={page === id ? "page" : undefined} key={id}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          {session.operator.subject}
          <button
            type="button"
            class="link"
            onClick={() => {
              signOut();
              setSession(null);
              setProblem(null);
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <main>
        {page === "agents" ? (
          <AgentsPage session={session} agent={rest[0]} />
        ) : page === "approvals" ? (
          <ApprovalsPage session={session} />
        ) : page === "playground" ? (
          <PlaygroundPage session={session} />
        ) : (
          <DecisionsPage decisionId={rest[0]} />
        )}
      </main>
    </>
  );
}
