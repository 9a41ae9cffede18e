// An agent's MCP session with the official client: it declares URL elicitation,
// signs in when the server (or a scope or step-up challenge) asks, shows the user
// the links a URL elicitation names, and retries the call once the user is done.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, UrlElicitationRequiredError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { CallbackReceiver, InMemoryOAuthClientProvider } from "./oauth.js";

export interface Elicitation {
  url: string;
  message: string;
  elicitationId: string;
}

export interface AgentSessionOptions {
  server: URL;
  provider: InMemoryOAuthClientProvider;
  callbacks: CallbackReceiver;
  /** Shows the user an out-of-band link (URL elicitation) and resolves once they say they are done. */
  elicit: (elicitation: Elicitation) => Promise<void>;
  /** Each time a sign-in is needed (the provider has opened the authorization URL). */
  onSignIn?: () => void;
}

const MAX_ATTEMPTS = 4;

export class AgentSession {
  private client: Client | undefined;
  private transport: StreamableHTTPClientTransport | undefined;

  constructor(private readonly options: AgentSessionOptions) {}

  private async signedIn(transport: StreamableHTTPClientTransport): Promise<void> {
    this.options.onSignIn?.();
    await transport.finishAuth(await this.options.callbacks.next());
  }

  async connect(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const client = new Client({ name: "invoices-agent", version: "1.0.0" }, { capabilities: { elicitation: { url: {} } } });
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        if (request.params.mode !== "url") return { action: "decline" };
        await this.options.elicit({ url: request.params.url, message: request.params.message, elicitationId: request.params.elicitationId });
        return { action: "accept" };
      });
      const transport = new StreamableHTTPClientTransport(this.options.server, { authProvider: this.options.provider });
      try {
        await client.connect(transport);
        this.client = client;
        this.transport = transport;
        return;
      } catch (error) {
        if (!(error instanceof UnauthorizedError) || attempt >= MAX_ATTEMPTS) throw error;
        await this.signedIn(transport);
      }
    }
  }

  private async retrying<T>(run: (client: Client) => Promise<T>): Promise<T> {
    if (!this.client || !this.transport) throw new Error("connect first");
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(this.client);
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS) throw error;
        if (error instanceof UnauthorizedError) {
          // A scope or step-up challenge sent the user to sign in: finish it, then retry.
          await this.signedIn(this.transport);
        } else if (error instanceof UrlElicitationRequiredError) {
          for (const elicitation of error.elicitations) {
            if (elicitation.mode === "url")
              await this.options.elicit({ url: elicitation.url, message: elicitation.message, elicitationId: elicitation.elicitationId });
          }
        } else {
          throw error;
        }
      }
    }
  }

  callTool(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
    return this.retrying(async (client) => (await client.callTool({ name, arguments: args })) as CallToolResult);
  }

  listTools() {
    return this.retrying((client) => client.listTools());
  }

  readResource(uri: string) {
    return this.retrying((client) => client.readResource({ uri }));
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}

export const textOf = (result: CallToolResult): string => result.content.map((part) => (part.type === "text" ? part.text : `[${part.type}]`)).join("\n");
