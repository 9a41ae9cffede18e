// A scripted agent session against the invoices MCP server (README.md, step by step):
// it signs alice in through the development authorization server, reads, asks for
// more scope, is refused by a limit, and steps up to pay an invoice above 100.
import { createInterface } from "node:readline/promises";
import { InMemoryOAuthClientProvider, receiveCallbacks } from "./oauth.js";
import { AgentSession, textOf } from "./session.js";

const server = new URL(process.env["MCP_SERVER"] ?? "http://127.0.0.1:3001/mcp");
const callbacks = await receiveCallbacks(Number(process.env["CALLBACK_PORT"] ?? "0"));
const prompt = createInterface({ input: process.stdin, output: process.stdout });
const say = (line: string) => process.stdout.write(`${line}\n`);

const provider = new InMemoryOAuthClientProvider(callbacks.url, "invoices-agent (example)", (url) => {
  say(`\n  Open this link to sign in:\n  ${url.href}\n`);
});
const session = new AgentSession({
  server,
  provider,
  callbacks,
  onSignIn: () => say("  (waiting for the sign-in to come back…)"),
  elicit: async ({ url, message }) => {
    say(`\n  The server asks: ${message}\n  Open: ${url}`);
    await prompt.question("  Press Enter once you have confirmed. ");
  },
});

const step = async (title: string, run: () => Promise<string>) => {
  say(`\n== ${title}`);
  say(await run());
};

await session.connect();
await step("list_invoices (invoices:read)", async () => textOf(await session.callTool("list_invoices", { status: "pending" })));
await step("dispute_invoice inv-3 (needs invoices:write: the client signs in again for read + write)", async () =>
  textOf(await session.callTool("dispute_invoice", { invoice_id: "inv-3", reason: "not ordered" })),
);
await step("list_invoices again (the new token still reads)", async () => textOf(await session.callTool("list_invoices", {})));
await step("pay_invoice inv-1, 80 EUR (payments:write: one more sign-in)", async () =>
  textOf(await session.callTool("pay_invoice", { invoice_id: "inv-1", amount: 80 })),
);
await step("pay_invoice inv-2 with a made-up amount of 250 (over the agent's 200 ceiling: a tool error the model can read)", async () => {
  const result = await session.callTool("pay_invoice", { invoice_id: "inv-2", amount: 250 });
  return `isError: ${result.isError === true}\n${textOf(result)}`;
});
await step("pay_invoice inv-2, 150 EUR (above 100: the user confirms with MFA out of band)", async () =>
  textOf(await session.callTool("pay_invoice", { invoice_id: "inv-2", amount: 150 })),
);

await session.close();
await callbacks.close();
prompt.close();
