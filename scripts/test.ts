/**
 * `npm test [-- vitest args]`: a throwaway Postgres and Redis (unless DATABASE_URL / REDIS_URL are set), then `vitest
 * run` with DATABASE_URL (app login), DATABASE_OWNER_URL (superuser), REDIS_URL and THREADLINE_ENV=test (always: the
 * program alone is production). Exits with vitest's code; the services are stopped and their data deleted in every
 * case. Each test file isolates itself (its own database or key prefix): this runner only provides the servers.
 */
import { Effect } from "effect"
import { acquireServices } from "./services.js"
import { ensureChromium } from "./support/Chromium.js"
import { runChild, runScript, unlessShutdown } from "./support/Main.js"
import { repoPath } from "./support/Paths.js"

runScript((shutdown) =>
  Effect.gen(function* () {
    const services = yield* unlessShutdown(
      shutdown,
      acquireServices({ mode: "throwaway", dataDir: process.env.THREADLINE_DATA_DIR ?? ".data", env: process.env })
    )
    yield* unlessShutdown(shutdown, ensureChromium({ env: process.env }))
    return yield* runChild(
      {
        command: process.execPath,
        args: [repoPath("node_modules/vitest/vitest.mjs"), "run", ...process.argv.slice(2)],
        env: { ...process.env, ...services.env, THREADLINE_ENV: "test" },
        graceMs: 30_000,
        // Vitest's own Ctrl-C path: it stops its workers and reports what ran.
        forwardAs: "SIGINT"
      },
      shutdown
    )
  })
)
