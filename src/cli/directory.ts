// `verdict directory load FILE.json`: subjects, resources and actions into the
// AuthZEN directory (docs/authzen.md), on the database of a configuration (or the
// one `verdict audit query` finds without one).
import type { Environment } from "../config/index.js";
import { DirectoryStore, readDirectoryFile } from "../directory/index.js";
import { silentLogger } from "../observability/index.js";
import { StateCalls } from "../state/index.js";
import { parseOptions, UsageError } from "./args.js";
import { openCommandDatabase } from "./local-database.js";

export const usage = `verdict directory load FILE.json [--config FILE] [--replace] [--ttl DURATION]

  FILE.json        {"subjects": [{type, id, properties}], "resources": [...],
                   "actions": [{name, properties}]}: each entry replaces the stored
                   one with the same kind, type and id
  --replace        the file is the whole directory: entries it does not name are removed
  --ttl DURATION   the entries expire after this long (90s, 15m, 1h, 7d); default never
  --config FILE    the database of this configuration; without it: MONGODB_URI,
                   else the local database of a running npm start, else local-mongo
                   on its data directory (.verdict/mongo)`;

/** The deadline of each write (and read) `verdict directory load` makes: a whole directory is written in batches. */
export const DIRECTORY_LOAD_TIMEOUT_MS = 30_000;

export async function directory(argv: string[], env: Environment): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== "load") throw new UsageError(sub ? `unknown directory command ${sub}` : "directory needs a command: load");
  const files: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg.startsWith("--")) {
      flags.push(arg);
      if ((arg === "--config" || arg === "--ttl") && i + 1 < rest.length) flags.push(rest[++i] as string);
    } else files.push(arg);
  }
  if (files.length !== 1) throw new UsageError("give exactly one FILE.json");
  const options = parseOptions(flags, { config: { type: "string" }, replace: { type: "boolean", default: false }, ttl: { type: "string" } });
  const ttlMs = options.ttl !== undefined ? parseDuration(options.ttl) : undefined;

  // A file that does not fit is a DirectoryFileError: main prints its message, exit 1.
  const file = readDirectoryFile(files[0] as string);
  const database = await openCommandDatabase(options.config, env);
  try {
    const store = new DirectoryStore(database.db, {
      lookups: new StateCalls(DIRECTORY_LOAD_TIMEOUT_MS, silentLogger()),
      readTimeoutMs: DIRECTORY_LOAD_TIMEOUT_MS,
    });
    const loaded = await store.load(file, { replace: options.replace === true, ...(ttlMs !== undefined ? { ttlMs } : {}) });
    process.stdout.write(
      `loaded ${loaded.subjects} subjects, ${loaded.resources} resources, ${loaded.actions} actions` +
        (options.replace ? `; removed ${loaded.removed} entries not in the file` : "") +
        ` (database ${database.db.name}, from ${database.source})\n`,
    );
  } finally {
    await database.close();
  }
}

function parseDuration(text: string): number {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text);
  if (!match) throw new UsageError("--ttl must be a duration such as 90s, 15m, 1h or 7d");
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  const ms = Number(match[1]) * unit;
  if (ms <= 0) throw new UsageError("--ttl must be longer than 0");
  return ms;
}
