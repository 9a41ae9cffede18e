// @verdict/sdk: the thin client APIs embed to ask Verdict for decisions.
export * from "./wire/index.js";
