// The decision case table shared by opa test, `verdict policy test` and vitest
// (policies/testdata/decisions_test.json): src/policy/cases.ts reads it and builds
// each input with object.union's merge, as cases_test.rego does.
import { join } from "node:path";
import { defaultPolicyDir } from "../../src/paths.js";
import { loadCaseTable as loadTable, type CaseTable } from "../../src/policy/index.js";

export { caseInput, objectUnion, type CaseTable, type DecisionCase } from "../../src/policy/index.js";

export const caseTablePath = join(defaultPolicyDir, "testdata", "decisions_test.json");

export function loadCaseTable(): CaseTable {
  const { loaded, problems } = loadTable(defaultPolicyDir);
  if (!loaded || problems.length > 0) throw new Error(`the case table does not load: ${JSON.stringify(problems)}`);
  return loaded.table;
}
