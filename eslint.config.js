// typescript-eslint's recommended type-aware rules over Verdict's TypeScript (npm
// test runs it with --max-warnings 0). Generated code (sdk/gen) and build output
// are not linted; scripts/, the scripts deploy/ mounts and the faults tests load into
// a process (test/fixtures/faults) are plain JavaScript.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "sdk/gen/**",
      "sdk/proto/**",
      "build/**",
      "scripts/**",
      "deploy/**/*.js",
      "deploy/**/*.mjs",
      "test/fixtures/faults/**",
      "sdk/scripts/**",
      "bin/**",
      ".tools/**",
      ".test-results/**",
      ".verdict/**",
      "eslint.config.js",
      ".dependency-cruiser.cjs",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ["./tsconfig.json", "./sdk/tsconfig.json", "./test/tsconfig.json", "./console/tsconfig.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A leading underscore names what a destructuring leaves out on purpose.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
    },
  },
  {
    // Tests read the JSON other processes print and use vitest's asymmetric
    // matchers (typed any), and stand in for async interfaces with async arrows.
    files: ["test/**/*.ts", "sdk/test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/require-await": "off",
    },
  },
);
