import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globals: true,
    // Validator and lab tests run real programs (crm_simulate, corosync, shellcheck, daemons).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { CHECKPOINT_DISABLE: "1" },
  },
});
