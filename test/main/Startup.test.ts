/**
 * What the bare program (`node src/main.ts`, no script around it) refuses at start-up: it is production unless told
 * otherwise, so it needs a strong THREADLINE_SECRET_KEY; and it never serves on a DATABASE_URL that row-level
 * security would not apply to.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { DEVELOPMENT_SECRET_KEY } from "../../src/Config.js"
import { TestDatabase, TestDatabaseInfo } from "../support/Database.js"
import { freePort } from "./Support.js"

/** The runner's environment without the settings the scripts add: what a bare `node src/main.ts` would see. */
const bare = (): Record<string, string> => {
  const { THREADLINE_ENV: _env, THREADLINE_SECRET_KEY: _key, ...rest } = process.env
  return Object.fromEntries(Object.entries(rest).filter((e): e is [string, string] => e[1] !== undefined))
}

const runMain = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.async<{ code: number | null; out: string }>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, out }))
    })
  })

layer(TestDatabase.layer("startup"), { timeout: 120_000 })("bare program start-up", (it) => {
  it.effect(
    "without THREADLINE_ENV it is production: no key, or a weak one, refuses to start with the reason",
    () =>
      Effect.gen(function* () {
        const info = yield* TestDatabaseInfo
        const env = { ...bare(), DATABASE_URL: info.appUrl, DATABASE_OWNER_URL: info.ownerUrl }
        // every kind of weak key is covered by test/Config.test.ts; here one of each refusal, end to end
        const [none, repeated, short, dev] = yield* Effect.all(
          [
            runMain(["migrate"], env),
            runMain(["migrate"], { ...env, THREADLINE_SECRET_KEY: "0123456789ab".repeat(6) }),
            runMain(["migrate"], { ...env, THREADLINE_SECRET_KEY: randomBytes(16).toString("hex") }),
            runMain(["migrate"], { ...env, THREADLINE_SECRET_KEY: DEVELOPMENT_SECRET_KEY })
          ],
          { concurrency: 2 }
        )
        for (const r of [none, repeated, short, dev]) expect(r.code).not.toBe(0)
        expect(none.out).toContain("THREADLINE_SECRET_KEY is required in production")
        expect(repeated.out).toContain("THREADLINE_SECRET_KEY is not random")
        expect(short.out).toContain("THREADLINE_SECRET_KEY decodes to 16 bytes; at least 32 are required")
        expect(dev.out).toContain("THREADLINE_SECRET_KEY is the public development key")
        // the key itself never appears in the message
        expect(dev.out).not.toContain(DEVELOPMENT_SECRET_KEY)
      }),
    180_000
  )

  it.effect(
    "with 32 random bytes production starts; development needs no key",
    () =>
      Effect.gen(function* () {
        const info = yield* TestDatabaseInfo
        const env = { ...bare(), DATABASE_URL: info.appUrl, DATABASE_OWNER_URL: info.ownerUrl }
        const results = yield* Effect.all(
          [
            runMain(["migrate"], { ...env, THREADLINE_SECRET_KEY: randomBytes(32).toString("hex") }),
            runMain(["migrate"], { ...env, THREADLINE_ENV: "development" })
          ],
          { concurrency: 2 }
        )
        expect(results.map((r) => [r.code, r.out.includes('"migrations applied"')])).toEqual([
          [0, true],
          [0, true]
        ])
      }),
    180_000
  )

  it.effect(
    "serving on a DATABASE_URL that owns the tables (an older single-URL deployment) is refused",
    () =>
      Effect.gen(function* () {
        const info = yield* TestDatabaseInfo
        const port = yield* Effect.promise(freePort)
        const result = yield* runMain(["serve", "--roles", "api"], {
          ...bare(),
          THREADLINE_ENV: "test",
          DATABASE_URL: info.ownerUrl,
          DATABASE_OWNER_URL: "",
          PORT: String(port)
        })
        expect(result.code).not.toBe(0)
        expect(result.out).toMatch(/DATABASE_URL logs in as .*postgres.*row-level security would not apply/)
      }),
    180_000
  )
})
