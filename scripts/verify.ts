/**
 * `npm run verify` (full) and `npm run verify -- --short` (CI size): proof on the real running system. Starts a
 * throwaway PostgreSQL (scripts/services.ts) that the suite reconfigures for statement logging, then hands over to
 * verify/Main.ts (own Redis, Threadline child processes, soak, faults, fuzzing, secrets, memory). Exit code 0 only
 * when every check passed. Artefacts (captured logs, statement log, figures) stay in `.data/verify/<run>/`.
 */
import { Effect } from "effect"
import { acquireServices, ScriptError } from "./services.js"
import { runScript, unlessShutdown } from "./support/Main.js"
import { repoPath } from "./support/Paths.js"
import { PostgresBinaries } from "./support/PostgresBinaries.js"
import { runVerify } from "../verify/Main.js"

runScript((shutdown) =>
  Effect.gen(function* () {
    const short = process.argv.includes("--short")
    const services = yield* unlessShutdown(
      shutdown,
      acquireServices({
        mode: "throwaway",
        dataDir: ".data",
        // Redis is the suite's own (verify/Redis.ts: persistent, restartable); only PostgreSQL comes from here.
        env: { ...process.env, DATABASE_URL: "", REDIS_URL: "redis://unused" }
      })
    )
    const dataDir = services.dirs.postgres
    if (dataDir === undefined) return yield* new ScriptError({ message: "expected an embedded PostgreSQL" })
    const bins = yield* PostgresBinaries
    const url = services.env.DATABASE_OWNER_URL
    if (url === undefined) return yield* new ScriptError({ message: "expected the embedded PostgreSQL's owner URL" })
    const run = new Date().toISOString().replace(/[:.]/g, "-")
    return yield* unlessShutdown(
      shutdown,
      Effect.tryPromise({
        try: () =>
          runVerify({
            short,
            strict: process.argv.includes("--strict"),
            overrides: process.argv.slice(2),
            dir: repoPath(`.data/verify/${run}`),
            pg: {
              url,
              appUrl: services.env.DATABASE_URL,
              port: Number(new URL(url).port),
              dataDir,
              pgCtl: bins.pgCtl,
              user: bins.user
            }
          }),
        catch: (e) => new ScriptError({ message: e instanceof Error ? (e.stack ?? e.message) : String(e) })
      })
    )
  })
)
