import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Option, Schema } from "effect"
import {
  makeId,
  OrganizationId,
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
  const TRACE = "0af7651916cd43dd8448eb211c80319c"
  const SPAN = "b7ad6b7169203331"
  const FORMAT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

  it("make gives version 00, lowercase hex ids, sampled; fresh ids each time", () => {
    const made = Array.from({ length: 1_000 }, () => Traceparent.make())
    for (const tp of made) {
      expect(tp).toMatch(FORMAT)
      expect(tp.endsWith("-01")).toBe(true)
      expect(Traceparent.isValid(tp)).toBe(true)
    }
    expect(new Set(made.map(Traceparent.traceIdOf)).size).toBe(1_000)
    expect(new Set(made.map(Traceparent.spanIdOf)).size).toBe(1_000)
  })

  it("make keeps valid given ids and replaces invalid ones (wrong length, uppercase, all zero)", () => {
    expect(Traceparent.make(TRACE, SPAN)).toBe(`00-${TRACE}-${SPAN}-01`)
    expect(Traceparent.traceIdOf(Traceparent.make(TRACE))).toBe(TRACE)
    for (const badTrace of ["0".repeat(32), TRACE.toUpperCase(), TRACE.slice(1), `${TRACE}0`, "g".repeat(32)]) {
      const tp = Traceparent.make(badTrace, SPAN)
      expect(Traceparent.isValid(tp)).toBe(true)
      expect(Traceparent.traceIdOf(tp)).not.toBe(badTrace)
      expect(Traceparent.spanIdOf(tp)).toBe(SPAN)
    }
    for (const badSpan of ["0".repeat(16), SPAN.toUpperCase(), SPAN.slice(1), "-".repeat(16)]) {
      const tp = Traceparent.make(TRACE, badSpan)
      expect(Traceparent.isValid(tp)).toBe(true)
      expect(Traceparent.traceIdOf(tp)).toBe(TRACE)
      expect(Traceparent.spanIdOf(tp)).not.toBe(badSpan)
    }
  })

  it("child keeps the trace id and the flags and changes the parent id", () => {
    const parent = Traceparent.make()
    const child = Traceparent.child(parent)
    expect(child.slice(0, 35)).toBe(parent.slice(0, 35))
    expect(child.slice(36, 52)).not.toBe(parent.slice(36, 52))
    expect(Traceparent.isValid(child)).toBe(true)
    const unsampled = Traceparent.child(`00-${TRACE}-${SPAN}-00`)
    expect(unsampled.slice(0, 35)).toBe(`00-${TRACE}`)
    expect(unsampled.endsWith("-00")).toBe(true)
    expect(Traceparent.isSampled(unsampled)).toBe(false)
  })

  it("child of an absent or invalid parent starts a new sampled trace", () => {
    for (const bad of [undefined, "garbage", `00-${TRACE.toUpperCase()}-${SPAN}-01`, `01-${TRACE}-${SPAN}-01`]) {
      const tp = Traceparent.child(bad)
      expect(Traceparent.isValid(tp)).toBe(true)
      expect(tp.endsWith("-01")).toBe(true)
      expect(Traceparent.traceIdOf(tp)).not.toBe(TRACE)
    }
  })

  it("parse reads the fields of a valid header; sampled is bit 0 of the flags", () => {
    expect(Traceparent.parse(`00-${TRACE}-${SPAN}-01`)).toEqual(
      Option.some({ traceId: TRACE, spanId: SPAN, flags: "01", sampled: true })
    )
    const sampled = (flags: string) =>
      Traceparent.parse(`00-${TRACE}-${SPAN}-${flags}`).pipe(
        Option.map((f) => f.sampled),
        Option.getOrThrow
      )
    expect([sampled("00"), sampled("01"), sampled("02"), sampled("03"), sampled("0a"), sampled("ff")]).toEqual([
      false,
      true,
      false,
      true,
      false,
      true
    ])
    for (const flags of ["00", "01", "03", "0a", "ff"]) {
      const tp = `00-${TRACE}-${SPAN}-${flags}`
      expect(Traceparent.isSampled(tp)).toBe(sampled(flags))
      expect(Traceparent.traceIdOf(tp)).toBe(TRACE)
      expect(Traceparent.spanIdOf(tp)).toBe(SPAN)
    }
  })

  it("parse refuses every header that breaks the version 00 format", () => {
    const bad = [
      undefined,
      null,
      "",
      "garbage",
      `01-${TRACE}-${SPAN}-01`, // only version 00
      `ff-${TRACE}-${SPAN}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`, // lowercase hex only
      `00-${TRACE}-${SPAN.toUpperCase()}-01`,
      `00-${TRACE}-${SPAN}-0A`,
      `00-${"0".repeat(32)}-${SPAN}-01`, // all-zero ids
      `00-${TRACE}-${"0".repeat(16)}-01`,
      `00-${TRACE.slice(1)}-${SPAN}-01`, // lengths
      `00-${TRACE}-${SPAN}0-01`,
      `00-${TRACE}-${SPAN}-1`,
      `00-${TRACE}-${SPAN}-001`,
      `00-${TRACE}-${SPAN}-01-extra`,
      ` 00-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01\n`,
      `00_${TRACE}_${SPAN}_01`
    ]
    for (const value of bad) {
      expect(Option.isNone(Traceparent.parse(value))).toBe(true)
      if (typeof value === "string") expect(Traceparent.isValid(value)).toBe(false)
    }
  })

  it("fresh trace and span ids are lowercase hex of the right length", () => {
    for (let i = 0; i < 1_000; i++) {
      expect(Traceparent.newTraceId()).toMatch(/^[0-9a-f]{32}$/)
      expect(Traceparent.newSpanId()).toMatch(/^[0-9a-f]{16}$/)
    }
  })
})

describe("makeId", () => {
  it("mints prefixed ids with 96 random bits, all distinct, accepted by the id schemas", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => makeId("org")))
    expect(ids.size).toBe(10_000)
    for (const id of ids) expect(id).toMatch(/^org_[0-9a-f]{24}$/)
    expect(Schema.is(OrganizationId)(makeId("org"))).toBe(true)
    expect(makeId("evt")).toMatch(/^evt_[0-9a-f]{24}$/)
  })
})
