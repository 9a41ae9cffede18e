import { resolve } from "node:path";
import { defaultBundlePath, defaultPolicyDir } from "../paths.js";
import { buildBundle } from "../policy/index.js";
import { parseOptions, UsageError } from "./args.js";

export const usage = `verdict policy build [--dir DIR] [--out FILE]

  build   compile DIR (default: the shipped policies/) with the pinned opa into a
          WASM bundle (default build/bundle.tar.gz) whose revision is a hash of
          the sources`;

export async function policy(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "build": {
      const options = parseOptions(rest, { dir: { type: "string" }, out: { type: "string" } });
      const result = await buildBundle({
        policyDir: resolve(options.dir ?? defaultPolicyDir),
        outFile: resolve(options.out ?? defaultBundlePath),
      });
      process.stdout.write(`built ${result.outFile} (revision ${result.revision})\n`);
      return;
    }
    default:
      throw new UsageError(sub ? `unknown policy command ${sub}` : "policy needs a command");
  }
}
