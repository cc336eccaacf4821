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

/** A service URL as it may be printed: `scheme://user@host:port/db`, never a password or query (options). */
const displayUrl = (text: string): string => {
  try {
    const url = new URL(text)
    const user = url.username === "" ? "" : `${url.username}@`
    return `${url.protocol}//${user}${url.host}${url.pathname === "/" ? "" : url.pathname}`
  } catch {
    return "<unparseable URL>"
  }
}

runScript((shutdown) =>
  Effect.gen(function* () {
    const env = process.env
    const mode = env.THREADLINE_ENV ?? "development"
    const adminOnly = process.argv[2] === "admin" && set(env.DATABASE_URL)
    if (mode === "production" && !adminOnly && !(set(env.DATABASE_URL) && set(env.REDIS_URL))) {
      return yield* new ScriptError({
        message:
          "THREADLINE_ENV=production needs DATABASE_URL (and DATABASE_OWNER_URL) and REDIS_URL; embedded services " +
          "are for development."
      })
    }
    // `admin` needs only the database: with DATABASE_URL set it starts nothing (no Redis either)
    const services = adminOnly
      ? { env: {} }
      : yield* unlessShutdown(
          shutdown,
          acquireServices({ mode: "persistent", dataDir: env.THREADLINE_DATA_DIR ?? ".data", env })
        )
    const urls: Record<string, string | undefined> = services.env
    const shown = ["DATABASE_URL", "REDIS_URL", "DATABASE_OWNER_URL"]
      .filter((name) => set(urls[name]))
      .map((name) => `${name}=${displayUrl(urls[name] ?? "")}`)
    if (shown.length > 0) process.stderr.write(`[services] ${shown.join(" ")}\n`)
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
