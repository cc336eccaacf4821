import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

/**
 * Sized for a 2-core CI machine with a 30-minute bound. Tests talk to a real Postgres and Redis (started by
 * scripts/test.ts) and several spawn `src/main.ts` as a child process, so: separate processes per file (forks: a
 * crashed or hung file cannot take the others with it), at most two files at a time (more only fights the database
 * and the child processes for the same cores), and timeouts generous enough for a loaded machine.
 */
const forks = Math.max(1, Math.min(2, availableParallelism()))

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/types/**", "node_modules/**"],
    pool: "forks",
    poolOptions: { forks: { minForks: 1, maxForks: forks } },
    testTimeout: 60_000,
    // The first file to need a database builds the migrated template, under a lock the others wait on.
    hookTimeout: 180_000,
    teardownTimeout: 60_000
  }
})
