// Lint rules. The second block keeps the pure cores pure: no sockets, timers, clocks, randomness
// or process state, so they run unchanged inside the deterministic simulation.
import tseslint from "typescript-eslint";

const pureGlobs = [
  "libs/base/src/**/*.ts",
  "libs/mfs-wire/src/**/*.ts",
  "libs/ops/src/**/*.ts",
  "libs/slots/src/**/*.ts",
  "services/*/core/src/**/*.ts",
  // The namespace checker of `antler fsck` judges dumps only; its I/O is in fsck.ts.
  "deploy/local/src/fsck-check.ts",
];

export default tseslint.config(
  { ignores: ["**/node_modules/**", ".antler/**", "**/dist/**", ".turbo/**", "**/.turbo/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: pureGlobs,
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["node:*", "nats", "@nats-io/*", "@grpc/*", "ioredis"] }],
      "no-restricted-globals": ["error", "setTimeout", "setInterval", "setImmediate", "process", "Buffer", "fetch"],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now" },
        { object: "Math", property: "random" },
        { object: "performance", property: "now" },
        { object: "crypto", property: "randomUUID" },
      ],
      "no-restricted-syntax": ["error", { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: "time is an input in pure code" }],
      "no-console": "error",
    },
  },
);
