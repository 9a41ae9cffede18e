// The console's frame: the sign-in prompt when there is no usable token, else the
// navigation and the page the location's hash names (#/decisions, #/agents/…), or
// what is wrong with a hash that names none.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, signIn, signOut, token, whenSignInNeeded, type Session } from "./api.js";
import { AgentsPage } from "./pages/agents.js";
import { ApprovalsPage } from "./pages/approvals.js";
import { DecisionsPage } from "./pages/decisions.js";
import { PlaygroundPage } from "./pages/playground.js";
import { SignInPage } from "./pages/sign-in.js";
import { printable } from "./printable.js";
import { PAGES, readRoute, type Route } from "./route.js";

/**
 * The route the location's fragment names, read again when it changes, and a way to leave a
 * fragment that names no page (for the decisions); sign-in fields are removed from the address.
 */
function useRoute(): [Route, () => void] {
  const read = (): Route => {
    const route = readRoute(window.location.hash);
    // Replaces this history entry's URL, so the token is in neither the address bar nor the tab's history.
    if ("credentials" in route && route.credentials) history.replaceState(history.state, "", window.location.pathname + window.location.search);
    return route;
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  const leave = () => {
    history.replaceState(history.state, "", window.location.pathname + window.location.search);
    setRoute(read());
  };
  return [route, leave];
}

/** A fragment the console cannot follow: what went wrong, and a way on (never the fragment itself, which may hold a token). */
function RouteProblem({ problem, onSignInAgain }: { problem: string; onSignInAgain: () => void }) {
  return (
    <>
      <h1>This address shows no page</h1>
      <p class="problem" role="alert">
        {problem}
      </p>
      <p>
        <a href="#/decisions">Open the decisions</a> or{" "}
        <button type="button" onClick={onSignInAgain}>
          Sign in again
        </button>
      </p>
    </>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [checking, setChecking] = useState(token() !== null);
  const [route, leaveRoute] = useRoute();
  const signOutHere = () => {
    signOut();
    setSession(null);
    setProblem(null);
  };

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
        // A token refused for the session itself (401, or 403: it carries no console scope) opens nothing: forget it.
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) signOut();
        setSession(null);
        setProblem(error instanceof ApiError ? printable(error.message) : "Verdict did not answer.");
      })
      .finally(() => setChecking(false));
  };
  useEffect(() => {
    whenSignInNeeded((error) => {
      signOut();
      setSession(null);
      setProblem(printable(error.message));
    });
    load();
  }, []);

  if (checking) return <main class="centered">Checking your sign-in…</main>;
  if (!session) {
    return (
      <SignInPage
        problems={["problem" in route ? route.problem : null, problem]}
        onToken={(value) => {
          signIn(value);
          // The sign-in page said what was wrong with the address: signed in, the operator starts at the decisions.
          if ("problem" in route) leaveRoute();
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
            <a href={`#/${id}`} aria-current={"page" in route && route.page === id ? "page" : undefined} key={id}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          {printable(session.operator.subject)}
          <button type="button" class="link" onClick={signOutHere}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        {"problem" in route ? (
          <RouteProblem
            problem={route.problem}
            onSignInAgain={() => {
              leaveRoute();
              signOutHere();
            }}
          />
        ) : route.page === "agents" ? (
          <AgentsPage session={session} agent={route.rest[0]} />
        ) : route.page === "approvals" ? (
          <ApprovalsPage session={session} />
        ) : route.page === "playground" ? (
          <PlaygroundPage session={session} />
        ) : (
          <DecisionsPage decisionId={route.rest[0]} />
        )}
      </main>
    </>
  );
}
