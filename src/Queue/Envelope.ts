/**
 * The `_ctx` wire format. A job's data is its encoded payload's fields plus `_ctx`:
 *
 *   { ...payload, _ctx: { v: 1, origin, actor, organizationId, projectId, userId, apiKeyId, requestId,
 *                         traceparent, sig } }                          (enqueued under a RequestContext)
 *   { ...payload, _ctx: { v: 1, schedule, reason, sig } }                (a scheduler run: fresh system context)
 *
 * `traceparent` is a child of the producer's, so the job joins the producer's trace. `sig` is an HMAC-SHA256 over the
 * job name, the rest of `_ctx` and the payload, keyed by a key derived from THREADLINE_SECRET_KEY: anyone who can write
 * to Redis but does not hold the key cannot make a job run as another tenant or actor, nor move a context to another
 * job kind or payload. The Schema (with its actor/flat-id consistency filter) then rejects malformed contexts.
 */
import { createHash, createHmac, createSecretKey, hkdfSync, type KeyObject, timingSafeEqual } from "node:crypto"
import { Effect, Either, Option, ParseResult, Redacted, Schema } from "effect"
import { AppConfig } from "../Config.js"
import {
  RequestContext,
  type RequestContextData,
  RequestContextSchema,
  type RequestId,
  Traceparent
} from "../RequestContext.js"
import type { EncodedPayload } from "./Job.js"

const WIRE_VERSION = 1

/** Development and tests have no secret; production refuses to start without one (src/Config.ts). */
const DEVELOPMENT_SECRET = "threadline-development-only-queue-key"

const deriveKey = (secret: Option.Option<Redacted.Redacted>): KeyObject => {
  const ikm = Option.match(secret, { onNone: () => DEVELOPMENT_SECRET, onSome: Redacted.value })
  return createSecretKey(Buffer.from(hkdfSync("sha256", ikm, "threadline", "queue/_ctx/v1", 32)))
}

const ScheduleWire = Schema.Struct({
  schedule: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  reason: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))
})

const decodeContext = Schema.decodeUnknownEither(RequestContextSchema)
const decodeSchedule = Schema.decodeUnknownEither(ScheduleWire)

/** One line per issue, with its path, short enough for a job's failedReason. */
export const describeParseError = (error: ParseResult.ParseError): string => {
  const text = ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
    .join("; ")
  return text.length > 400 ? `${text.slice(0, 400)}…` : text
}

const tampered = "_ctx signature mismatch: the context or payload was altered, or signed with another key"

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

type Wire = { readonly v: number } & typeof RequestContextSchema.Encoded

/** The unsigned `_ctx` of a job enqueued under `ctx`; its key order is the order the signature was computed in. */
const wireOf = (ctx: RequestContextData, traceparent: string): Wire => ({
  v: WIRE_VERSION,
  origin: ctx.origin,
  actor: ctx.actor,
  organizationId: ctx.organizationId,
  projectId: ctx.projectId,
  userId: ctx.userId,
  apiKeyId: ctx.apiKeyId,
  requestId: ctx.requestId,
  traceparent
})

/** What a consumer gets from a job's data: the context to run under and the still-encoded payload. */
export interface Opened {
  readonly ctx: RequestContextData
  readonly payload: EncodedPayload
}

/** Identifies one run of a job; scheduler runs derive their request id and trace from it. */
export interface RunIdentity {
  readonly id: string
  readonly timestamp: number
}

/** Bound of the decoded-context memo (a fan-out's jobs share one context; distinct requests each add one entry). */
const DECODED_MAX = 4_096

export class Envelope extends Effect.Service<Envelope>()("Queue/Envelope", {
  effect: Effect.map(AppConfig, (config) => {
    const key = deriveKey(config.secretKey)
    const mac = (jobName: string, unsignedJson: string, payload: EncodedPayload): Buffer =>
      createHmac("sha256", key)
        .update(`${jobName}\n${unsignedJson}\n${JSON.stringify(payload)}`)
        .digest()

    const verify = (jobName: string, unsignedJson: string, payload: EncodedPayload, sig: string): boolean => {
      const expected = mac(jobName, unsignedJson, payload)
      const given = Buffer.from(sig, "base64url")
      return given.length === expected.length && timingSafeEqual(given, expected)
    }

    const sealed = (jobName: string, unsigned: object, payload: EncodedPayload): Record<string, unknown> => {
      const sig = mac(jobName, JSON.stringify(unsigned), payload).toString("base64url")
      return { ...payload, _ctx: { ...unsigned, sig } }
    }

    /**
     * `_ctx` without its traceparent, as JSON without the closing brace, per context object: every job enqueued
     * under one context shares it, and only the traceparent (a new span id per job) differs.
     */
    const heads = new WeakMap<RequestContextData, string>()
    const headOf = (ctx: RequestContextData): string => {
      let head = heads.get(ctx)
      if (head === undefined) {
        const { traceparent: _, ...unsigned } = wireOf(ctx, "")
        head = JSON.stringify(unsigned).slice(0, -1)
        heads.set(ctx, head)
      }
      return head
    }

    /** The job data for `payload` enqueued under `ctx`. */
    const seal = (jobName: string, ctx: RequestContextData, payload: EncodedPayload): Record<string, unknown> => {
      const traceparent = Traceparent.child(ctx.traceparent)
      // the same text JSON.stringify gives for the `_ctx` object below (same keys, same order), without building it
      const unsignedJson = `${headOf(ctx)},"traceparent":"${traceparent}"}`
      const _ctx: Record<string, unknown> = wireOf(ctx, traceparent)
      _ctx.sig = mac(jobName, unsignedJson, payload).toString("base64url")
      return { ...payload, _ctx }
    }

    /**
     * Decoding a context with the Schema costs more than the rest of opening a job, and the jobs of one fan-out all
     * carry the same context but for the traceparent's span id. So the decoded context is memoised by its exact
     * wire text without the traceparent (which is checked on its own, with the same pattern the Schema uses); only
     * contexts whose signature verified are kept. The result is the one the Schema gives, hit or miss.
     */
    const decoded = new Map<string, Omit<RequestContextData, "traceparent">>()
    const memoKey = (unsignedJson: string, traceparent: unknown): string | undefined => {
      if (typeof traceparent !== "string" || !Traceparent.isValid(traceparent)) return undefined
      const suffix = `,"traceparent":"${traceparent}"}`
      return unsignedJson.endsWith(suffix) ? unsignedJson.slice(0, -suffix.length) : undefined
    }
    const remember = (key: string | undefined, ctx: RequestContextData) => {
      if (key === undefined) return
      if (decoded.size >= DECODED_MAX) decoded.clear()
      const { traceparent: _, ...rest } = ctx
      decoded.set(key, rest)
    }

    /** The job data of a scheduler's template: every run gets its own system context when it is consumed. */
    const sealSchedule = (jobName: string, schedule: string, reason: string, payload: EncodedPayload) =>
      sealed(jobName, { v: WIRE_VERSION, schedule, reason }, payload)

    /** A scheduler run's context: fresh per run, kept across that run's retries (derived from the run's job id). */
    const systemContextFor = (reason: string, run: RunIdentity): RequestContextData => {
      const h = createHash("sha512").update(`${run.id}\n${run.timestamp}`).digest("hex")
      return RequestContext.make({
        origin: "system",
        actor: { _tag: "system", reason },
        organizationId: RequestContext.system(reason).organizationId,
        requestId: `JOB-${run.timestamp}-${h.slice(0, 24)}` as RequestId,
        traceparent: Traceparent.make(h.slice(24, 56), h.slice(56, 72))
      })
    }

    /** Checks and decodes a job's `_ctx`; `Left` carries the reason the job must fail without running. */
    const open = (jobName: string, data: unknown, run: RunIdentity): Either.Either<Opened, string> => {
      if (!isObject(data)) return Either.left("job data is not an object")
      const { _ctx: wire, ...payload } = data
      if (wire === undefined) return Either.left("job has no _ctx: it was not enqueued under a RequestContext")
      if (!isObject(wire)) return Either.left("_ctx is not an object")
      const { sig, ...unsigned } = wire
      if (unsigned.v !== WIRE_VERSION) return Either.left(`_ctx version ${JSON.stringify(unsigned.v)} is not supported`)
      if (typeof sig !== "string") return Either.left("_ctx is not signed")
      if ("schedule" in unsigned) {
        const schedule = decodeSchedule(unsigned)
        if (Either.isLeft(schedule)) return Either.left(`invalid scheduler _ctx: ${describeParseError(schedule.left)}`)
        if (!verify(jobName, JSON.stringify(unsigned), payload, sig)) return Either.left(tampered)
        return Either.right({ ctx: systemContextFor(schedule.right.reason, run), payload })
      }
      const unsignedJson = JSON.stringify(unsigned)
      const key = memoKey(unsignedJson, unsigned.traceparent)
      const known = key === undefined ? undefined : decoded.get(key)
      if (known !== undefined) {
        if (!verify(jobName, unsignedJson, payload, sig)) return Either.left(tampered)
        return Either.right({ ctx: { ...known, traceparent: unsigned.traceparent as string, origin: "job" }, payload })
      }
      const ctx = decodeContext(unsigned)
      if (Either.isLeft(ctx)) return Either.left(`invalid _ctx: ${describeParseError(ctx.left)}`)
      if (!verify(jobName, unsignedJson, payload, sig)) return Either.left(tampered)
      remember(key, ctx.right)
      return Either.right({ ctx: { ...ctx.right, origin: "job" }, payload })
    }

    return { seal, sealSchedule, open } as const
  })
}) {}
