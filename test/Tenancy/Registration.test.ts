/**
 * Registration does not reveal whether an email has an account: a taken email (or a look-alike that normalizes to
 * it: NFKC, then lower case) gets the same status and body shape as a new one, after the same password hashing,
 * and creates or changes nothing. Over real HTTP, Postgres and Redis.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { asOwner } from "../support/Database.js"
import { send } from "../Http/support/TestServer.js"
import { tenancyServer } from "./Support.js"

const server = tenancyServer("registration", {
  THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000",
  THREADLINE_AUTH_ATTEMPTS_PER_EMAIL: "1000"
})

const unique = () => randomBytes(4).toString("hex")
const PASSWORD = "correct horse battery"

const register = (email: string, name = "someone", password = PASSWORD) =>
  send("POST", "/api/v1/auth/register", { body: { email, password, name } })

const accounts = (email: string) =>
  Effect.map(
    asOwner((c) =>
      c.query<{ id: string; name: string; email: string }>(`SELECT id, name, email FROM users WHERE email = $1`, [
        email
      ])
    ),
    (r) => r.rows
  )

const shape = (body: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(body).map(([k, v]) => [k, typeof v === "string" ? v.replace(/[0-9a-f]/g, "x") : v]))

layer(server.layer, { timeout: 120_000 })("registration", (it) => {
  it.effect("a taken email: the same 201 and body shape as a new one; nothing created or changed", () =>
    Effect.gen(function* () {
      const email = `taken-${unique()}@example.com`
      const first = yield* register(email, "Original")
      const again = yield* register(email, "Impostor", "impostor password")
      expect(first.status).toBe(201)
      expect(again.status).toBe(201)
      expect(Object.keys(again.json).sort()).toEqual(Object.keys(first.json).sort())
      expect(again.json).toMatchObject({ email, name: "Impostor" })
      expect(shape({ id: again.json.id })).toEqual(shape({ id: first.json.id }))
      expect(again.json.id).not.toBe(first.json.id)
      expect(again.headers.get("content-type")).toBe(first.headers.get("content-type"))

      const rows = yield* accounts(email)
      expect(rows).toEqual([{ id: first.json.id, name: "Original", email }])
      const impostor = yield* send("POST", "/api/v1/auth/login", { body: { email, password: "impostor password" } })
      expect(impostor.status).toBe(401)
      expect((yield* send("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200)
      // the attempt is audited (for operators), the answered id names nothing
      const audit = yield* asOwner((c) =>
        c.query<{ action: string }>(`SELECT action FROM audit_log WHERE changes->>'email' = $1 ORDER BY id`, [email])
      )
      expect(audit.rows.map((r) => r.action)).toEqual(["user.register", "user.register_existing"])
      expect((yield* asOwner((c) => c.query(`SELECT 1 FROM users WHERE id = $1`, [again.json.id]))).rowCount).toBe(0)
    })
  )

  it.effect("look-alikes normalize to the same address and collide: Kelvin sign, full-width letters, case", () =>
    Effect.gen(function* () {
      const u = unique()
      const pairs: ReadonlyArray<readonly [string, string]> = [
        [`kelvin-${u}@x.example`, `\u212Aelvin-${u}@x.example`],
        [`\u212Aelvin2-${u}@x.example`, `kelvin2-${u}@x.example`],
        [`admin-${u}@example.com`, `\uFF41\uFF44\uFF4D\uFF49\uFF4E-${u}@example.com`],
        [`root-${u}@example.com`, `ROOT-${u}@EXAMPLE.COM`]
      ]
      for (const [original, lookAlike] of pairs) {
        const first = yield* register(original, "first")
        expect(first.status).toBe(201)
        const normalized = original.normalize("NFKC").toLowerCase()
        expect(first.json.email).toBe(normalized)
        const second = yield* register(lookAlike, "second")
        expect(second.status).toBe(201)
        expect(second.json.email).toBe(normalized)
        const rows = yield* accounts(normalized)
        expect(rows).toEqual([{ id: first.json.id, name: "first", email: normalized }])
        // the look-alike logs in to the one account (the lookup normalizes too)
        const login = yield* send("POST", "/api/v1/auth/login", { body: { email: lookAlike, password: PASSWORD } })
        expect(login.json.user).toMatchObject({ id: first.json.id })
      }
      const total = yield* asOwner((c) =>
        c.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE email LIKE $1`, [`%-${u}@%`])
      )
      expect(total.rows[0]?.n).toBe(pairs.length)
    })
  )

  it.effect("a taken email still pays the password hashing (timing does not tell it apart)", () =>
    Effect.gen(function* () {
      // wall-clock time (it.effect runs on the test clock)
      const timed = (email: string) =>
        Effect.gen(function* () {
          const started = performance.now()
          const reply = yield* register(email)
          expect(reply.status).toBe(201)
          return performance.now() - started
        })
      const taken = `timing-${unique()}@example.com`
      yield* register(taken)
      const fresh: Array<number> = []
      const existing: Array<number> = []
      for (let i = 0; i < 5; i++) {
        fresh.push(yield* timed(`timing-${unique()}@example.com`))
        existing.push(yield* timed(taken))
      }
      const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
      // the hashing dominates (tens to hundreds of ms); without it a taken email would answer in a few ms
      expect(median(existing)).toBeGreaterThan(median(fresh) * 0.5)
      console.log(`register median: new ${median(fresh).toFixed(1)} ms, taken ${median(existing).toFixed(1)} ms`)
    })
  )
})
