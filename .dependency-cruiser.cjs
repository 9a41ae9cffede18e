// The dependency rules of docs/architecture.md, checked in npm test: a new cycle,
// or an import that points the wrong way, fails the build.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "Modules depend on each other one way only.",
      from: {},
      to: { circular: true },
    },
    {
      name: "contract-is-a-leaf",
      severity: "error",
      comment: "src/contract holds the types and ports policy/, obligations/, state/ and decide/ share; it imports nothing else from src.",
      from: { path: "^src/contract/" },
      to: { path: "^src/", pathNot: "^src/contract/" },
    },
    {
      name: "errors-is-a-leaf",
      severity: "error",
      comment: "src/errors (the error union and its table) imports nothing.",
      from: { path: "^src/errors/" },
      to: { pathNot: "^src/errors/" },
    },
    {
      name: "state-points-down",
      severity: "error",
      comment: "src/state implements the contract's ports; it knows nothing of policies, obligation types, decisions, audit or the server.",
      from: { path: "^src/state/" },
      to: { path: "^src/(policy|obligations|decide|audit|server|cli)/" },
    },
    {
      name: "database-points-down",
      severity: "error",
      comment: "src/database is the connection and collection definitions; the stores use it, not the other way round.",
      from: { path: "^src/database/" },
      to: { path: "^src/(state|directory|policy|obligations|decide|audit|server|cli)/" },
    },
    {
      name: "directory-points-down",
      severity: "error",
      comment:
        "src/directory is the AuthZEN directory's store (a policy information point); the AuthZEN edge uses it, it knows nothing of policies, decisions, audit or the server.",
      from: { path: "^src/directory/" },
      to: { path: "^src/(state|policy|obligations|decide|audit|server|cli)/" },
    },
    {
      name: "cluster-knows-only-processes",
      comment: "cluster/ supervises processes: it knows nothing of what they serve.",
      severity: "error",
      from: { path: "^src/cluster/" },
      to: { path: "^src/(state|database|directory|policy|obligations|decide|audit|server|token|cli|dev)/" },
    },
    {
      name: "policy-does-no-io",
      severity: "error",
      comment: "src/policy evaluates; it touches no database (shadow disagreements are recorded by decide/ through a port).",
      from: { path: "^src/policy/" },
      to: { path: ["^src/(state|database|directory|decide|audit|server)/", "(^|/)node_modules/mongodb/"] },
    },
    {
      name: "token-knows-no-database",
      severity: "error",
      comment: "src/token verifies tokens; DPoP replay goes through a ReplayGuard it is handed.",
      from: { path: "^src/token/" },
      to: { path: ["^src/(state|database|policy|decide|audit|server)/", "(^|/)node_modules/mongodb/"] },
    },
    {
      name: "obligations-use-ports",
      severity: "error",
      comment: "An obligation type touches state only through the contract's ports.",
      from: { path: "^src/obligations/" },
      to: { path: ["^src/(state|database|policy|decide|audit|server)/", "(^|/)node_modules/mongodb/"] },
    },
    {
      name: "decide-holds-no-protocol-or-database",
      severity: "error",
      comment: "src/decide orders the stages; gRPC is the server's, MongoDB the stores'.",
      from: { path: "^src/decide/" },
      to: { path: ["^src/(server|database|directory|cli)/", "(^|/)node_modules/(mongodb|@grpc)/"] },
    },
    {
      name: "sdk-shares-only-the-wire",
      severity: "error",
      comment: "The SDK shares only generated wire types and constants with the server: it never imports the server.",
      from: { path: "^sdk/(src|gen)/" },
      to: { path: "^src/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)dist/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "types", "default"], extensions: [".ts", ".js", ".d.ts"] },
  },
};
