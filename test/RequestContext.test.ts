import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Option, Schema } from "effect"
import {
  type OrganizationId,
  type ProjectId,
  RequestContext,
  type RequestContextData,
  RequestContextSchema,
  RequestId,
  Traceparent,
  type UserId
} from "../src/RequestContext.js"

const userCtx = (n: number, requestId = `req-${n}`): RequestContextData =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "user", userId: `usr_u${n}` as UserId },
    organizationId: `org_o${n}` as OrganizationId,
    projectId: `prj_p${n}` as ProjectId,
    requestId: RequestId.parse(requestId).pipe(Option.getOrThrow)
  })

const decode = Schema.decodeUnknownEither(RequestContextSchema)
const encode = Schema.encodeSync(RequestContextSchema)

describe("RequestContext schema", () => {
  it("round-trips through its JSON encoding", () => {
    const ctx = userCtx(1)
    const wire = JSON.parse(JSON.stringify(encode(ctx))) as unknown
    expect(decode(wire)).toEqual(Either.right(ctx))
  })

  it("derives flat actor ids from the actor", () => {
    const ctx = RequestContext.make({
      origin: "http",
      actor: { _tag: "apiKey", apiKeyId: "key_abc" as never },
      organizationId: "org_a" as OrganizationId
    })
    expect(ctx.apiKeyId).toBe("key_abc")
    expect(ctx.userId).toBeNull()
    expect(ctx.projectId).toBeNull()
    expect(ctx.requestId).toMatch(/^API-\d{13}-[0-9a-f]{24}$/)
    expect(Traceparent.isValid(ctx.traceparent ?? "")).toBe(true)
  })

  const valid = encode(userCtx(2))
  const cases: ReadonlyArray<[string, Record<string, unknown>]> = [
    ["organization id with a project prefix", { organizationId: "prj_x" }],
    ["project id with an org prefix", { projectId: "org_x" }],
    ["user id with a key prefix", { userId: "key_x", actor: { _tag: "user", userId: "key_x" } }],
    ["unknown origin", { origin: "cron" }],
    ["oversized organization id", { organizationId: `org_${"a".repeat(61)}` }],
    ["oversized request id", { requestId: "r".repeat(129) }],
    ["request id with a newline", { requestId: "a\nb" }],
    ["oversized system reason", { actor: { _tag: "system", reason: "x".repeat(201) }, userId: null }],
    ["flat user id that disagrees with the actor", { userId: "usr_other" }],
    ["user actor that also claims an api key", { apiKeyId: "key_k" }],
    ["system actor with a user id", { actor: { _tag: "system", reason: "tick" } }],
    ["invalid traceparent", { traceparent: "00-zz-11-01" }],
    ["missing request id", { requestId: undefined }]
  ]
  for (const [name, patch] of cases) {
    it(`rejects ${name}`, () => {
      expect(Either.isLeft(decode({ ...valid, ...patch }))).toBe(true)
    })
  }
})

describe("RequestId", () => {
  it("mints API- and JOB- ids with at least 80 random bits, all distinct", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => RequestId.make()))
    expect(ids.size).toBe(10_000)
    for (const id of [...ids].slice(0, 10)) expect(id).toMatch(/^API-\d{13}-[0-9a-f]{24}$/)
    expect(RequestId.make("JOB")).toMatch(/^JOB-\d{13}-[0-9a-f]{24}$/)
  })

  it("accepts safe client ids", () => {
    for (const ok of ["abc", "A.b_c-d:1", "x".repeat(128), "0"]) {
      expect(Option.isSome(RequestId.parse(ok))).toBe(true)
    }
  })

  it("rejects unsafe client ids", () => {
    const bad = [
      "",
      "x".repeat(129),
      "a\r\nb",
      "a\nb",
      "é",
      "a,b",
      "a b",
      "a;b",
      "a/b",
      "a'b",
      "日本",
      "\u0000",
      undefined,
      null
    ]
    for (const value of bad) expect(Option.isNone(RequestId.parse(value))).toBe(true)
  })
})

describe("RequestContext scoping", () => {
  it.effect("currentOption is None outside a unit of work, also right after one ended", () =>
    Effect.gen(function* () {
      expect(Option.isNone(yield* RequestContext.currentOption)).toBe(true)
      const inside = yield* RequestContext.current.pipe(RequestContext.withContext(userCtx(1)))
      expect(inside.requestId).toBe("req-1")
      expect(Option.isNone(yield* RequestContext.currentOption)).toBe(true)
    })
  )

  it.effect("a nested withContext overrides only inside its scope; forks inherit; children never change parents", () =>
    Effect.gen(function* () {
      const outer = yield* RequestContext.current
      expect(outer.requestId).toBe("req-1")
      const inner = yield* RequestContext.current.pipe(RequestContext.withContext(userCtx(2)))
      expect(inner.requestId).toBe("req-2")
      expect((yield* RequestContext.current).requestId).toBe("req-1")
      const forked = yield* Effect.fork(RequestContext.current)
      expect((yield* Fiber.join(forked)).requestId).toBe("req-1")
      const child = yield* Effect.fork(
        Effect.gen(function* () {
          const mine = yield* RequestContext.current.pipe(RequestContext.withContext(userCtx(3)))
          return mine.requestId
        })
      )
      expect(yield* Fiber.join(child)).toBe("req-3")
      expect((yield* RequestContext.current).requestId).toBe("req-1")
    }).pipe(RequestContext.withContext(userCtx(1)))
  )

  it.effect("system(reason) makes a fresh system context each time", () =>
    Effect.sync(() => {
      const a = RequestContext.system("alerts.tick")
      const b = RequestContext.system("alerts.tick")
      expect(a.origin).toBe("system")
      expect(a.actor).toEqual({ _tag: "system", reason: "alerts.tick" })
      expect(a.organizationId).toBe("org_system")
      expect(a.requestId).toMatch(/^JOB-/)
      expect(a.requestId).not.toBe(b.requestId)
      expect(a.traceparent).not.toBe(b.traceparent)
      expect(Either.isRight(decode(encode(a)))).toBe(true)
    })
  )

  it("logAnnotations carries the request and tenant ids, and nothing secret", () => {
    expect(RequestContext.logAnnotations(userCtx(4))).toEqual({
      requestId: "req-4",
      organizationId: "org_o4",
      projectId: "prj_p4",
      userId: "usr_u4"
    })
  })
})

describe("Traceparent", () => {
  it("child keeps the trace id and changes the parent id", () => {
    const parent = Traceparent.make()
    const child = Traceparent.child(parent)
    expect(child.slice(0, 35)).toBe(parent.slice(0, 35))
    expect(child.slice(36, 52)).not.toBe(parent.slice(36, 52))
    expect(Traceparent.isValid(child)).toBe(true)
    expect(Traceparent.isValid(Traceparent.child("garbage"))).toBe(true)
  })
})
