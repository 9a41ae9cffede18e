// The `verdict` command.
import type { Environment } from "./config/index.js";
import { mappingOf, VerdictError } from "./errors/index.js";
import { version } from "./cli/version.js";

interface Command {
  run: (argv: string[], env: Environment) => Promise<void>;
  usage: string;
  /** The usage for these arguments, when a command has subcommands with their own. */
  help?: (argv: string[]) => string;
}

// Each command's module is loaded when it runs, with what it needs: `verdict serve`
// starts without loading the policy tools, and every process of a server starts sooner.
const commands: Record<string, () => Promise<Command>> = {
  serve: async () => import("./cli/serve.js").then(({ serve, usage }) => ({ run: serve, usage })),
  check: async () => import("./cli/check.js").then(({ check, usage }) => ({ run: check, usage })),
  config: async () => import("./cli/config.js").then(({ config, usage }) => ({ run: config, usage })),
  "dev-token": async () => import("./cli/dev-token.js").then(({ devToken, usage }) => ({ run: devToken, usage })),
  policy: async () => import("./cli/policy.js").then(({ policy, usage, help }) => ({ run: policy, usage, help })),
  audit: async () => import("./cli/audit.js").then(({ audit, usage }) => ({ run: audit, usage })),
  approvals: async () => import("./cli/approvals.js").then(({ approvals, usage }) => ({ run: approvals, usage })),
  directory: async () => import("./cli/directory.js").then(({ directory, usage }) => ({ run: directory, usage })),
  suspend: async () => import("./cli/suspend.js").then(({ suspend, suspendUsage }) => ({ run: suspend, usage: suspendUsage })),
  resume: async () => import("./cli/suspend.js").then(({ resume, resumeUsage }) => ({ run: resume, usage: resumeUsage })),
  suspensions: async () => import("./cli/suspend.js").then(({ suspensions, listUsage }) => ({ run: suspensions, usage: listUsage })),
};

const overview = `verdict: a policy decision point for APIs and the agents that call them

  verdict serve      serve gRPC Check (--config FILE, or --profile dev)
  verdict check      ask a running Verdict for one decision
  verdict config     check a configuration file without starting (config check FILE)
  verdict dev-token  mint a token from the local development issuer
  verdict policy     build, test and evaluate policies; shadow disagreements
  verdict audit      query the audit trail: who did what, for whom, and why
  verdict suspend    stop an agent, a user, a delegation, a token or a session now
  verdict resume     lift a suspension (verdict suspensions lists them)
  verdict approvals  list, approve or refuse the requests agents made that need a person's yes
  verdict directory  load subjects, resources and actions for AuthZEN (directory load FILE.json)

verdict COMMAND --help shows a command's options; verdict --version its version.`;

export async function main(argv: string[], env: Environment): Promise<number> {
  const [first, ...afterFirst] = argv;
  if (first === "--version" || first === "-V") {
    process.stdout.write(`verdict ${version()}\n`);
    return 0;
  }
  // `verdict help policy build` is `verdict policy build --help`
  const [name, ...rest] = first === "help" && afterFirst.length > 0 ? [...afterFirst, "--help"] : argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(overview + "\n");
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? await commands[name]?.() : undefined;
  if (!command) {
    process.stderr.write(`verdict: unknown command ${name}\n\n${overview}\n`);
    return 2;
  }
  const usage = command.help?.(rest) ?? command.usage;
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(usage + "\n");
    return 0;
  }
  try {
    await command.run(rest, env);
    return 0;
  } catch (error) {
    // A command called wrongly is shown its usage; the exit code comes from the error table.
    const withUsage = error instanceof VerdictError && error.code === "usage_invalid" ? `\n\n${usage}` : "";
    process.stderr.write(`verdict ${name}: ${error instanceof Error ? error.message : String(error)}${withUsage}\n`);
    return mappingOf(error).exit;
  }
}

const env: Environment = {
  ...(process.env["MONGODB_URI"] !== undefined ? { MONGODB_URI: process.env["MONGODB_URI"] } : {}),
  ...(process.env["VERDICT_HOME"] !== undefined ? { VERDICT_HOME: process.env["VERDICT_HOME"] } : {}),
  ...(process.env["VERDICT_LOG_LEVEL"] !== undefined ? { VERDICT_LOG_LEVEL: process.env["VERDICT_LOG_LEVEL"] } : {}),
  ...(process.env["VERDICT_PROCESS_ROLE"] !== undefined ? { VERDICT_PROCESS_ROLE: process.env["VERDICT_PROCESS_ROLE"] } : {}),
  variables: process.env,
};
process.exitCode = await main(process.argv.slice(2), env);
