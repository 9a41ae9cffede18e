// The `verdict` command.
import { ConfigError, type Environment } from "./config/index.js";
import { audit, usage as auditUsage } from "./cli/audit.js";
import { check, CheckCallError, usage as checkUsage } from "./cli/check.js";
import { devToken, usage as devTokenUsage } from "./cli/dev-token.js";
import { UsageError } from "./cli/args.js";
import { help as policyHelp, policy, PolicyCommandError, usage as policyUsage } from "./cli/policy.js";
import { serve, usage as serveUsage } from "./cli/serve.js";
import { version } from "./cli/version.js";

interface Command {
  run: (argv: string[], env: Environment) => Promise<void>;
  usage: string;
  /** The usage for these arguments, when a command has subcommands with their own. */
  help?: (argv: string[]) => string;
}

const commands: Record<string, Command> = {
  serve: { run: serve, usage: serveUsage },
  check: { run: check, usage: checkUsage },
  "dev-token": { run: devToken, usage: devTokenUsage },
  policy: { run: policy, usage: policyUsage, help: policyHelp },
  audit: { run: audit, usage: auditUsage },
};

const overview = `verdict: a policy decision point for APIs and the agents that call them

  verdict serve      serve gRPC Check (--config FILE, or --profile dev)
  verdict check      ask a running Verdict for one decision
  verdict dev-token  mint a token from the local development issuer
  verdict policy     build, test and evaluate policies; shadow disagreements
  verdict audit      query the audit trail: who did what, for whom, and why

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
  const command = commands[name];
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
    if (error instanceof UsageError) {
      process.stderr.write(`verdict ${name}: ${error.message}\n\n${usage}\n`);
      return 2;
    }
    if (error instanceof ConfigError || error instanceof CheckCallError || error instanceof PolicyCommandError) {
      process.stderr.write(`verdict ${name}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`verdict ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

const env: Environment = {
  ...(process.env["MONGODB_URI"] !== undefined ? { MONGODB_URI: process.env["MONGODB_URI"] } : {}),
  ...(process.env["VERDICT_HOME"] !== undefined ? { VERDICT_HOME: process.env["VERDICT_HOME"] } : {}),
  ...(process.env["VERDICT_LOG_LEVEL"] !== undefined ? { VERDICT_LOG_LEVEL: process.env["VERDICT_LOG_LEVEL"] } : {}),
};
process.exitCode = await main(process.argv.slice(2), env);
