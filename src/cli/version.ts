// `verdict --version`: the version of the installed package, read from its package.json.
import { packageVersion } from "../paths.js";

export function version(): string {
  return packageVersion();
}
