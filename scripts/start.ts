/**
 * `npm start` (= `tsx scripts/start.ts serve`) and `npm run migrate`: ensures Postgres and Redis (embedded ones
 * under THREADLINE_DATA_DIR unless DATABASE_URL / REDIS_URL are set), then runs `src/main.ts <args>` with their
 * URLs. A Ctrl-C or SIGTERM is forwarded to the app once; the services stop after the app has exited.
 */
import { Effect } from "effect"
import { DEVELOPMENT_SECRET_KEY } from "../src/Config.js"
import { acquireServices, ScriptError } from "./services.js"
import { runChild, runScript, unlessShutdown } from "./support/Main.js"
import { repoPath, tsxLoader } from "./support/Paths.js"

/**
 * The program alone defaults to production; `npm start` is development unless THREADLINE_ENV says otherwise, with a
 * fixed public key (src/Config.ts DEVELOPMENT_SECRET_KEY) so data encrypted in one run still decrypts in the next.
 * Production refuses that key and any weak one (src/Config.ts).
 */
const set = (value: string | undefined): value is string => value !== undefined && value !== ""

runScript((shutdown) =>
  Effect.gen(function* () {
    const env = process.env
    const mode = env.THREADLINE_ENV ?? "development"
    if (mode === "production" && !(set(env.DATABASE_URL) && set(env.REDIS_URL))) {
      return yield* new ScriptError({
        message:
          "THREADLINE_ENV=production needs DATABASE_URL (and DATABASE_OWNER_URL) and REDIS_URL; embedded services " +
          "are for development."
      })
    }
    const services = yield* unlessShutdown(
      shutdown,
      acquireServices({ mode: "persistent", dataDir: env.THREADLINE_DATA_DIR ?? ".data", env })
    )
    const owner = services.env.DATABASE_OWNER_URL
    process.stderr.write(
      `[services] DATABASE_URL=${services.env.DATABASE_URL} REDIS_URL=${services.env.REDIS_URL}` +
        `${owner === undefined ? "" : ` DATABASE_OWNER_URL=${owner}`}\n`
    )
    const shutdownMs = Number.parseInt(env.THREADLINE_SHUTDOWN_TIMEOUT_MS ?? "", 10)
    return yield* runChild(
      {
        command: process.execPath,
        args: ["--import", tsxLoader(), repoPath("src/main.ts"), ...process.argv.slice(2)],
        env: {
          ...env,
          ...services.env,
          THREADLINE_ENV: mode,
          ...(mode !== "production" && !set(env.THREADLINE_SECRET_KEY)
            ? { THREADLINE_SECRET_KEY: DEVELOPMENT_SECRET_KEY }
            : {})
        },
        graceMs: (Number.isNaN(shutdownMs) ? 10_000 : shutdownMs) + 10_000
      },
      shutdown
    )
  })
)
