// The development authorization server's two pages: sign in (and allow the client),
// and step up. There is no password: whoever opens the page chooses who they are and
// how strongly they "authenticated". Development only, and each page says so.
const escape = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const BANNER = `<p style="background:#fde68a;padding:.5em"><strong>Verdict development authorization server.</strong> No real sign-in happens here: never use it outside development.</p>`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body style="font-family:sans-serif;max-width:40em;margin:2em auto">${BANNER}<h1>${escape(title)}</h1>${body}</body></html>`;
}

function levels(acrLevels: Record<string, number>, preferred: string | undefined): string {
  return Object.entries(acrLevels)
    .sort(([, a], [, b]) => a - b)
    .map(([acr]) => `<label><input type="radio" name="acr" value="${escape(acr)}"${acr === preferred ? " checked" : ""}> ${escape(acr)}</label><br>`)
    .join("");
}

const hidden = (fields: Record<string, string | undefined>) =>
  Object.entries(fields)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`)
    .join("");

export function signInPage(options: {
  clientName: string;
  redirectHost: string;
  scopes: string[];
  resource: string;
  acrLevels: Record<string, number>;
  preferredAcr: string | undefined;
  /** The browser's session, if it has one: "continue" keeps its authentication. */
  session: { subject: string; acr: string; authTime: number } | undefined;
  fields: Record<string, string | undefined>;
}): string {
  const session = options.session
    ? `<p>Signed in as <strong>${escape(options.session.subject)}</strong> (${escape(options.session.acr)}, ${Math.max(0, Math.floor(Date.now() / 1000) - options.session.authTime)} s ago). <button type="submit" name="use_session" value="yes">Continue as ${escape(options.session.subject)}</button></p><p>Or sign in again:</p>`
    : "";
  return page(
    "Sign in",
    `<form method="post" action="/authorize">${hidden({ ...options.fields, decision: "allow" })}
<p><strong>${escape(options.clientName)}</strong> (redirecting to <strong>${escape(options.redirectHost)}</strong>) asks to act for you at <code>${escape(options.resource)}</code> with the scopes: <code>${escape(options.scopes.join(" ") || "(none)")}</code>.</p>
${session}<p><label>User <input name="subject" value="alice" required></label></p>
<fieldset><legend>Authentication</legend>${levels(options.acrLevels, options.preferredAcr)}</fieldset>
<p><button type="submit">Sign in and allow</button></p></form>
<form method="post" action="/authorize">${hidden({ ...options.fields, decision: "deny" })}<p><button type="submit">Deny</button></p></form>`,
  );
}

export function stepUpPage(options: {
  clientName: string;
  acrLevels: Record<string, number>;
  preferredAcr: string | undefined;
  fields: Record<string, string | undefined>;
}): string {
  return page(
    "Confirm it is you",
    `<form method="post" action="/step-up">${hidden(options.fields)}
<p><strong>${escape(options.clientName)}</strong> asked for something that needs a stronger or more recent sign-in. After you confirm, the next token it gets for you carries this authentication.</p>
<p><label>User <input name="subject" value="alice" required></label></p>
<fieldset><legend>Authentication</legend>${levels(options.acrLevels, options.preferredAcr)}</fieldset>
<p><button type="submit">Confirm</button></p></form>`,
  );
}

export function donePage(message: string): string {
  return page("Done", `<p>${escape(message)}</p>`);
}

export function errorPage(message: string): string {
  return page("Cannot continue", `<p>${escape(message)}</p>`);
}
