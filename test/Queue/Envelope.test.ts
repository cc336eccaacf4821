/**
 * The `_ctx` envelope on its own: a context that has been opened once (and so is memoised, Envelope.ts) is decoded
 * to the same result again, and altered copies of it are still refused, exactly as on first sight.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Envelope } from "../../src/Queue/Envelope.js"
import { Traceparent } from "../../src/RequestContext.js"
import { configLayer, contextFor } from "./Support.js"

type Data = Record<string, unknown>
const ctxOf = (data: Data) => data._ctx as Data
const run = { id: "1", timestamp: 1 }

describe("Queue envelope", () => {
  it.effect("a memoised context opens to the same context, with each job's own traceparent", () =>
    Effect.gen(function* () {
      const envelope = yield* Envelope
      const ctx = contextFor(41)
      const first = envelope.seal("env.job", ctx, { n: 1 })
      const second = envelope.seal("env.job", ctx, { n: 2 })
      const a = envelope.open("env.job", JSON.parse(JSON.stringify(first)), run)
      const b = envelope.open("env.job", JSON.parse(JSON.stringify(second)), run)
      if (Either.isLeft(a) || Either.isLeft(b)) return expect.unreachable(`not opened: ${String(a)} ${String(b)}`)
      const { traceparent: ta, ...restA } = a.right.ctx
      const { traceparent: tb, ...restB } = b.right.ctx
      const { traceparent: sent, ...restSent } = ctx
      expect(restA).toEqual({ ...restSent, origin: "job" })
      expect(restB).toEqual(restA)
      expect([ta, tb]).toEqual([ctxOf(first).traceparent, ctxOf(second).traceparent])
      expect(ta).not.toBe(tb)
      expect(ta?.slice(3, 35)).toBe(sent?.slice(3, 35))
      expect(b.right.payload).toEqual({ n: 2 })
    }).pipe(Effect.provide(Envelope.Default), Effect.provide(configLayer({})))
  )

  it.effect("altered copies of an already opened context are refused with the same reasons as before", () =>
    Effect.gen(function* () {
      const envelope = yield* Envelope
      const ctx = contextFor(42)
      const sealed = envelope.seal("env.job", ctx, { n: 1 }) as Data
      const reopen = (data: Data) => envelope.open("env.job", JSON.parse(JSON.stringify(data)), run)
      expect(Either.isRight(reopen(sealed))).toBe(true)
      expect(Either.isRight(reopen(sealed))).toBe(true)
      const cases: ReadonlyArray<[string, Data, RegExp]> = [
        ["another tenant", { ...sealed, _ctx: { ...ctxOf(sealed), organizationId: "org_victim" } }, /signature/],
        ["another payload", { ...sealed, n: 2 }, /signature/],
        ["another job kind", envelope.seal("env.other", ctx, { n: 1 }), /signature/],
        ["another trace", { ...sealed, _ctx: { ...ctxOf(sealed), traceparent: Traceparent.make() } }, /signature/],
        [
          "a malformed trace",
          { ...sealed, _ctx: { ...ctxOf(sealed), traceparent: "00-xyz" } },
          /invalid _ctx: traceparent/
        ],
        [
          "an identity that disagrees with its actor",
          { ...sealed, _ctx: { ...ctxOf(sealed), userId: "usr_other" } },
          /userId must equal actor.userId/
        ],
        [
          "the trace moved before the request id (same fields, other order)",
          (() => {
            const { traceparent, requestId, ...rest } = ctxOf(sealed)
            return { ...sealed, _ctx: { ...rest, traceparent, requestId } }
          })(),
          /signature/
        ]
      ]
      for (const [name, data, reason] of cases) {
        const opened = reopen(data)
        expect(Either.isLeft(opened) ? opened.left : "opened", name).toMatch(reason)
      }
      // and the original still opens
      expect(Either.isRight(reopen(sealed))).toBe(true)
    }).pipe(Effect.provide(Envelope.Default), Effect.provide(configLayer({})))
  )
})
