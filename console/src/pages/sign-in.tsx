// Sign in with an access token for the console's audience (from your identity
// provider), or in the development profile with one click.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api.js";
import { printable } from "../printable.js";

/** `problems`: what went wrong before this prompt (with the address, with the last token), null where nothing did. */
export function SignInPage({ problems, onToken }: { problems: (string | null)[]; onToken: (token: string) => void }) {
  const [config, setConfig] = useState<{ dev_sign_in: boolean; audience: string; scopes: string[] } | null>(null);
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .config()
      .then(setConfig)
      .catch(() => setError("Verdict did not answer; is it running?"));
  }, []);
  const dev = async () => {
    try {
      const { access_token } = await api.devSignIn();
      onToken(access_token);
    } catch (e) {
      setError(e instanceof ApiError ? printable(e.message) : "The development sign-in failed.");
    }
  };
  return (
    <main class="sign-in">
      <h1>Sign in to the Verdict console</h1>
      {problems.map(
        (problem, i) =>
          problem && (
            <p class="problem" role="alert" key={i}>
              {problem}
            </p>
          ),
      )}
      {error && (
        <p class="problem" role="alert">
          {error}
        </p>
      )}
      {config?.dev_sign_in && (
        <section>
          <h2>Development</h2>
          <p>This Verdict runs the development profile: sign in as the development operator, with every console scope.</p>
          <button type="button" class="primary" onClick={() => void dev()}>
            Development sign-in
          </button>
        </section>
      )}
      <section>
        <h2>Access token</h2>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (value.trim()) onToken(value);
          }}
        >
          <label for="token">
            A bearer access token for the audience <code>{config?.audience ?? "…"}</code> with console scopes (
            {config?.scopes.map((s) => (
              <code key={s}>{s} </code>
            ))}
            )
          </label>
          <textarea id="token" rows={4} autocomplete="off" spellcheck={false} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
          <button type="submit" class="primary">
            Sign in
          </button>
        </form>
      </section>
    </main>
  );
}
