// ${NAME} references in a configuration file: a secret (a database password, a
// collector's API key) comes from the environment instead of the file, e.g.
// mongodb_uri: "mongodb://verdict:${MONGODB_PASSWORD}@db-1,db-2/?replicaSet=rs0".
// Every string value is expanded, keys never are; "$${" writes a literal "${".

export interface Problem {
  /** Where, as a path into the file: "apis[0].key_sha256" ("" for the whole file). */
  path: string;
  message: string;
}

const REFERENCE = /\$(\$?)\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The file's value with every reference replaced, and a problem for each that cannot be. */
export function expandReferences(value: unknown, variables: Readonly<Record<string, string | undefined>>): { value: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  const expand = (node: unknown, path: string): unknown => {
    if (typeof node === "string") {
      return node.replace(REFERENCE, (whole, escaped: string, name: string) => {
        if (escaped === "$") return whole.slice(1);
        if (!NAME.test(name)) {
          problems.push({ path, message: `\${${name}} is not a variable name (letters, digits and _, not starting with a digit)` });
          return whole;
        }
        const found = variables[name];
        if (found === undefined) {
          problems.push({ path, message: `\${${name}} names an environment variable that is not set` });
          return whole;
        }
        return found;
      });
    }
    if (Array.isArray(node)) return node.map((item, i) => expand(item, `${path}[${i}]`));
    if (typeof node === "object" && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, expand(item, path === "" ? key : `${path}.${key}`)]));
    }
    return node;
  };
  return { value: expand(value, ""), problems };
}

/** A zod issue path as the file names it: apis[0].key_sha256. */
export function pathOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => (typeof part === "number" ? `${text}[${part}]` : text === "" ? String(part) : `${text}.${String(part)}`), "");
}
