import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globals: true,
    // Validator and lab tests run real programs (crm_simulate, corosync, shellcheck, daemons).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { CHECKPOINT_DISABLE: "1" },
    // One test file at a time: the lab tests start clusters whose daemons share what a network
    // namespace does not separate (two labs' ganesha started at once made one exit at start,
    // and timing-bound drills slow down under a second lab). The lab tests are most of the run,
    // so this costs little.
    fileParallelism: false,
  },
});
