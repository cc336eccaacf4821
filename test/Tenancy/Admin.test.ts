/**
 * Platform administrators are a flag on the user row that only the operator sets, with the CLI run as a real
 * process (`node --import tsx src/main.ts admin grant|revoke <email>` and `npm run cli -- admin …`) against the test
 * database: each change is audited as system work; an unknown email changes nothing and exits non-zero. Registering
 * an email that THREADLINE_ADMIN_EMAILS used to list gives no rights any more.
 */
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import pg from "pg"
import { asOwner, TestDatabaseInfo } from "../support/Database.js"
import { appServer } from "../support/AppServer.js"
import { send } from "../Http/support/TestServer.js"

const unique = () => randomBytes(4).toString("hex")
const ATTACKER = `root-${unique()}@platform.example.com`

// the variable the old code trusted: whoever registered a listed email first became an administrator
const server = appServer("admin-cli", { THREADLINE_ADMIN_EMAILS: `${ATTACKER},\u212Aelvin@platform.example.com` })

const PASSWORD = "correct horse battery"

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command to completion in a minimal environment, as an operator would: PATH, HOME and DATABASE_URL only
 * (the app login by default; `as: "owner"` the superuser; `url` any other) — no secret key, no THREADLINE_ENV.
 */
const run = (command: string, args: ReadonlyArray<string>, options: { as?: "app" | "owner"; url?: string } = {}) =>
  Effect.flatMap(TestDatabaseInfo, (db) =>
    Effect.promise(
      () =>
        new Promise<Ran>((resolve, reject) => {
          const env = {
            PATH: process.env.PATH ?? "",
            HOME: process.env.HOME ?? "",
            DATABASE_URL: options.url ?? (options.as === "owner" ? db.ownerUrl : db.appUrl)
          }
          const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] })
          let stdout = ""
          let stderr = ""
          child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
          child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
          child.on("error", reject)
          child.on("exit", (code) => resolve({ code, stdout, stderr }))
        })
    )
  )

const cli = (...args: ReadonlyArray<string>) => run(process.execPath, ["--import", "tsx", "src/main.ts", ...args])
const cliAsOwner = (...args: ReadonlyArray<string>) =>
  run(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { as: "owner" })

const user = (email: string) =>
  Effect.gen(function* () {
    expect(
      (yield* send("POST", "/api/v1/auth/register", { body: { email, password: PASSWORD, name: "u" } })).status
    ).toBe(201)
    const login = yield* send("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } })
    return { email, id: (login.json.user as { id: string }).id, token: login.json.token as string }
  })

const tenant = Effect.gen(function* () {
  const owner = yield* user(`owner-${unique()}@example.com`)
  const slug = `adm-${unique()}`
  expect((yield* send("POST", "/api/v1/orgs", { token: owner.token, body: { slug, name: "T" } })).status).toBe(201)
  return { owner, slug }
})

const putLimits = (slug: string, token: string, apiKeys: number) =>
  send("PUT", `/api/v1/orgs/${slug}/limits`, { token, body: { quotas: { apiKeys } } })

const flag = (id: string) =>
  Effect.map(
    asOwner((c) => c.query<{ a: boolean }>(`SELECT is_platform_admin AS a FROM users WHERE id = $1`, [id])),
    (r) => r.rows[0]?.a
  )

const adminAudit = (id: string) =>
  Effect.map(
    asOwner((c) =>
      c.query<Record<string, unknown>>(
        `SELECT organization_id, actor_type, actor_id, actor_reason, action, target_id, changes FROM audit_log
         WHERE action LIKE 'admin.%' AND target_id = $1 ORDER BY id`,
        [id]
      )
    ),
    (r) => r.rows
  )

layer(server, { timeout: 180_000 })("platform administrators", (it) => {
  it.effect("registering an email THREADLINE_ADMIN_EMAILS lists (or a look-alike of one) gives no rights", () =>
    Effect.gen(function* () {
      const t = yield* tenant
      for (const email of [ATTACKER, "kelvin@platform.example.com"]) {
        const attacker = yield* user(email)
        const refused = yield* putLimits(t.slug, attacker.token, 1_000)
        expect(refused.status).toBe(403)
        expect(refused.json).toMatchObject({ error: true, code: 403, name: "Forbidden" })
        expect(yield* flag(attacker.id)).toBe(false)
      }
    })
  )

  it.effect("`admin grant` sets the flag (audited as system work); `admin revoke` clears it; both by process", () =>
    Effect.gen(function* () {
      const t = yield* tenant
      const operator = yield* user(`ops-${unique()}@example.com`)
      expect((yield* putLimits(t.slug, operator.token, 7)).status).toBe(403)

      // the email as the operator may type it: normalized before the lookup
      const granted = yield* cli("admin", "grant", operator.email.toUpperCase())
      expect({ code: granted.code, stderr: granted.stderr }).toEqual({ code: 0, stderr: "" })
      expect(granted.stdout).toContain(`${operator.email} (${operator.id}) is now a platform administrator`)
      expect(yield* flag(operator.id)).toBe(true)
      // an administrator need not be a member
      expect((yield* putLimits(t.slug, operator.token, 7)).status).toBe(200)

      const revoked = yield* cli("admin", "revoke", operator.email)
      expect(revoked.code).toBe(0)
      expect(revoked.stdout).toContain("is no longer a platform administrator")
      expect(yield* flag(operator.id)).toBe(false)
      expect((yield* putLimits(t.slug, operator.token, 8)).status).toBe(403)

      expect(yield* adminAudit(operator.id)).toEqual([
        {
          organization_id: "org_system",
          actor_type: "system",
          actor_id: null,
          actor_reason: "admin.grant",
          action: "admin.grant",
          target_id: operator.id,
          changes: { email: operator.email, isPlatformAdmin: { from: false, to: true } }
        },
        {
          organization_id: "org_system",
          actor_type: "system",
          actor_id: null,
          actor_reason: "admin.revoke",
          action: "admin.revoke",
          target_id: operator.id,
          changes: { email: operator.email, isPlatformAdmin: { from: true, to: false } }
        }
      ])
    })
  )

  it.effect("an unknown email: exit code 1, a clear message, nothing changed or audited", () =>
    Effect.gen(function* () {
      const before = yield* asOwner((c) => c.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log`))
      const missing = `nobody-${unique()}@example.com`
      const ran = yield* cli("admin", "grant", missing)
      expect(ran.code).toBe(1)
      expect(ran.stderr).toContain(`no user with email "${missing}"`)
      const after = yield* asOwner((c) => c.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log`))
      expect(after.rows[0]?.n).toBe(before.rows[0]?.n)
    })
  )

  it.effect("`npm run cli -- admin grant <email>` does the same through the scripts, starting nothing", () =>
    Effect.gen(function* () {
      const operator = yield* user(`npm-${unique()}@example.com`)
      const ran = yield* run("npm", ["run", "--silent", "cli", "--", "admin", "grant", operator.email])
      expect({ code: ran.code, stdout: ran.stdout }).toMatchObject({ code: 0 })
      expect(ran.stdout).toContain("is now a platform administrator")
      // DATABASE_URL is set: no embedded PostgreSQL or Redis is started (nor any URL printed)
      expect(ran.stderr).not.toContain("[services]")
      expect(yield* flag(operator.id)).toBe(true)
    })
  )

  it.effect("as the owner login too, with neither a secret key nor migrations (none are run)", () =>
    Effect.gen(function* () {
      const operator = yield* user(`own-${unique()}@example.com`)
      const ran = yield* cliAsOwner("admin", "grant", operator.email)
      expect({ code: ran.code, stderr: ran.stderr }).toEqual({ code: 0, stderr: "" })
      expect(ran.stdout).not.toContain("migrations applied")
      expect(yield* flag(operator.id)).toBe(true)
      expect((yield* adminAudit(operator.id)).map((r) => r.action)).toEqual(["admin.grant"])
    })
  )

  it.effect("a database whose schema is behind: a clear `run threadline migrate first`, exit 1, nothing migrated", () =>
    Effect.gen(function* () {
      const db = yield* TestDatabaseInfo
      const name = `behind_${unique()}`
      yield* asOwner((c) => c.query(`CREATE DATABASE ${name}`))
      const url = new URL(db.ownerUrl)
      url.pathname = `/${name}`
      const ran = yield* run(process.execPath, ["--import", "tsx", "src/main.ts", "admin", "grant", "x@example.com"], {
        url: url.toString()
      })
      const tables = yield* Effect.promise(async () => {
        const client = new pg.Client({ connectionString: url.toString() })
        await client.connect()
        try {
          const r = await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`
          )
          return r.rows[0]
        } finally {
          await client.end()
        }
      })
      yield* asOwner((c) => c.query(`DROP DATABASE ${name}`))
      expect(ran.code).toBe(1)
      expect(ran.stderr).toContain("run `threadline migrate` first")
      expect(tables).toEqual({ n: 0 })
    })
  )
})
