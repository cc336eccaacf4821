/**
 * The unit-of-work context: who is acting, for which tenant, under which request id.
 * Created once per unit of work by an entry adapter (HTTP, job consumer, scheduler) and read below it with
 * `yield* RequestContext`. Imports nothing but `effect` (see ARCHITECTURE.md §2).
 */
import { Context, Effect, FiberRef, FiberRefs, Layer, Option, Schema } from "effect"

const idPart = (prefix: string) => new RegExp(`^${prefix}_[A-Za-z0-9]{1,60}$`)

export const OrganizationId = Schema.String.pipe(Schema.pattern(idPart("org")), Schema.brand("OrganizationId"))
export type OrganizationId = typeof OrganizationId.Type
export const ProjectId = Schema.String.pipe(Schema.pattern(idPart("prj")), Schema.brand("ProjectId"))
export type ProjectId = typeof ProjectId.Type
export const UserId = Schema.String.pipe(Schema.pattern(idPart("usr")), Schema.brand("UserId"))
export type UserId = typeof UserId.Type
export const ApiKeyId = Schema.String.pipe(Schema.pattern(idPart("key")), Schema.brand("ApiKeyId"))
export type ApiKeyId = typeof ApiKeyId.Type

/**
 * Every random id of the application comes from here: hex from a 4 KiB pool of CSPRNG bytes, refilled when spent
 * (one `getRandomValues` per id cost a tenth of a request's CPU, docs/performance.md). Each byte is used once.
 */
const POOL_SIZE = 4096
const pool = Buffer.allocUnsafe(POOL_SIZE)
let poolOffset = POOL_SIZE

const randomHex = (bytes: number): string => {
  if (poolOffset + bytes > POOL_SIZE) {
    globalThis.crypto.getRandomValues(pool)
    poolOffset = 0
  }
  return pool.toString("hex", poolOffset, (poolOffset += bytes))
}

/** Mints a prefixed opaque id (`org_…`, `evt_…`): 96 random bits in hex. */
export const makeId = <P extends string>(prefix: P): `${P}_${string}` => `${prefix}_${randomHex(12)}`

/**
 * The organization that owns platform-level system work (scheduler ticks, maintenance). It exists as a row
 * (created by the first migration) so that system work has a tenant like any other unit of work and its
 * audit rows have an owner; it holds no tenant data. See docs/decisions.md.
 */
export const SYSTEM_ORGANIZATION_ID = "org_system" as OrganizationId

export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/
const RequestIdSchema = Schema.String.pipe(Schema.pattern(REQUEST_ID_PATTERN), Schema.brand("RequestId"))
export type RequestId = typeof RequestIdSchema.Type

export const RequestId = {
  /** `API-{unix-ms}-{96 random bits}`; the scheduler uses prefix `JOB`. */
  make: (prefix: "API" | "JOB" = "API"): RequestId => `${prefix}-${Date.now()}-${randomHex(12)}` as RequestId,
  /** A client-supplied id, accepted only when it is short and made of safe characters. */
  parse: (header: string | null | undefined): Option.Option<RequestId> =>
    typeof header === "string" && REQUEST_ID_PATTERN.test(header) ? Option.some(header as RequestId) : Option.none()
} as const

/** W3C Trace Context, version 00: lowercase hex, trace and parent ids not all zero, two hex digits of flags. */
const TRACEPARENT_PATTERN = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/
const TRACE_ID_PATTERN = /^(?!0{32})[0-9a-f]{32}$/
const SPAN_ID_PATTERN = /^(?!0{16})[0-9a-f]{16}$/
const ZERO_TRACE_ID = "0".repeat(32)
const ZERO_SPAN_ID = "0".repeat(16)
/** Last hex digit of the flags with bit 0 (`sampled`) set. */
const SAMPLED_DIGITS = "13579bdf"
const TraceparentSchema = Schema.String.pipe(Schema.pattern(TRACEPARENT_PATTERN))

/** The fields of a valid traceparent. */
export interface TraceparentFields {
  readonly traceId: string
  readonly spanId: string
  /** The two hex digits of the trace flags. */
  readonly flags: string
  readonly sampled: boolean
}

/** A fresh trace id: 128 random bits, never all zero. */
const newTraceId = (): string => {
  const id = randomHex(16)
  return id === ZERO_TRACE_ID ? newTraceId() : id
}
/** A fresh span (parent) id: 64 random bits, never all zero. */
const newSpanId = (): string => {
  const id = randomHex(8)
  return id === ZERO_SPAN_ID ? newSpanId() : id
}

/**
 * The one implementation of the W3C `traceparent` header (`00-<trace id>-<parent id>-<flags>`). The `…Of` readers
 * take a value already known to be valid (a context's traceparent, decoded by the Schema or made here) and only slice.
 */
export const Traceparent = {
  newTraceId,
  newSpanId,
  /** A sampled traceparent for the given ids; an absent or invalid id is replaced by a fresh one. */
  make: (traceId?: string, spanId?: string): string =>
    `00-${traceId !== undefined && TRACE_ID_PATTERN.test(traceId) ? traceId : newTraceId()}-${
      spanId !== undefined && SPAN_ID_PATTERN.test(spanId) ? spanId : newSpanId()
    }-01`,
  /** The same trace and flags with a new parent (span) id, for a request, an outgoing call or a job; else a new trace. */
  child: (parent: string | undefined): string =>
    parent !== undefined && TRACEPARENT_PATTERN.test(parent)
      ? `00-${parent.slice(3, 35)}-${newSpanId()}-${parent.slice(53)}`
      : `00-${newTraceId()}-${newSpanId()}-01`,
  /** An incoming header, accepted only when valid. */
  parse: (header: string | null | undefined): Option.Option<TraceparentFields> =>
    typeof header === "string" && TRACEPARENT_PATTERN.test(header)
      ? Option.some({
          traceId: header.slice(3, 35),
          spanId: header.slice(36, 52),
          flags: header.slice(53),
          sampled: SAMPLED_DIGITS.includes(header[54]!)
        })
      : Option.none(),
  isValid: (value: string): boolean => TRACEPARENT_PATTERN.test(value),
  traceIdOf: (valid: string): string => valid.slice(3, 35),
  spanIdOf: (valid: string): string => valid.slice(36, 52),
  isSampled: (valid: string): boolean => SAMPLED_DIGITS.includes(valid[54]!)
} as const

const Origin = Schema.Literal("http", "job", "system")
export type Origin = typeof Origin.Type

export const Actor = Schema.Union(
  Schema.TaggedStruct("user", { userId: UserId }),
  Schema.TaggedStruct("apiKey", { apiKeyId: ApiKeyId }),
  Schema.TaggedStruct("system", { reason: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)) })
)
export type Actor = typeof Actor.Type

const Fields = Schema.Struct({
  origin: Origin,
  actor: Actor,
  organizationId: OrganizationId,
  projectId: Schema.NullOr(ProjectId),
  userId: Schema.NullOr(UserId),
  apiKeyId: Schema.NullOr(ApiKeyId),
  requestId: RequestIdSchema,
  traceparent: Schema.optional(TraceparentSchema)
})

/** The flat ids must agree with the actor, so a decoded context can never claim two identities. */
export const RequestContextSchema = Fields.pipe(
  Schema.filter((c) => {
    switch (c.actor._tag) {
      case "user":
        return (c.userId === c.actor.userId && c.apiKeyId === null) || "userId must equal actor.userId"
      case "apiKey":
        return (c.apiKeyId === c.actor.apiKeyId && c.userId === null) || "apiKeyId must equal actor.apiKeyId"
      case "system":
        return (c.userId === null && c.apiKeyId === null) || "a system actor has no userId or apiKeyId"
    }
  })
)
export type RequestContextData = typeof RequestContextSchema.Type

export interface MakeInput {
  readonly origin: Origin
  readonly actor: Actor
  readonly organizationId: OrganizationId
  readonly projectId?: ProjectId | null
  readonly requestId?: RequestId
  readonly traceparent?: string
}

/** Builds a consistent context: the flat `userId` / `apiKeyId` are derived from the actor. */
const make = (input: MakeInput): RequestContextData => ({
  origin: input.origin,
  actor: input.actor,
  organizationId: input.organizationId,
  projectId: input.projectId ?? null,
  userId: input.actor._tag === "user" ? input.actor.userId : null,
  apiKeyId: input.actor._tag === "apiKey" ? input.actor.apiKeyId : null,
  requestId: input.requestId ?? RequestId.make(input.origin === "http" ? "API" : "JOB"),
  traceparent: input.traceparent ?? Traceparent.make()
})

/** The fields every log line inside a unit of work carries; the one place that decides them. */
const logAnnotations = (ctx: RequestContextData): Record<string, string> => {
  const out: Record<string, string> = { requestId: ctx.requestId, organizationId: ctx.organizationId }
  if (ctx.projectId !== null) out.projectId = ctx.projectId
  if (ctx.userId !== null) out.userId = ctx.userId
  if (ctx.apiKeyId !== null) out.apiKeyId = ctx.apiKeyId
  if (ctx.actor._tag === "system") out.actor = "system"
  return out
}

/** Reads the context from a FiberRefs snapshot (loggers and the SQL transformer get refs, not the Context). */
const fromFiberRefs = (refs: FiberRefs.FiberRefs): Option.Option<RequestContextData> =>
  Context.getOption(FiberRefs.getOrDefault(refs, FiberRef.currentContext), RequestContext)

export class RequestContext extends Context.Tag("Threadline/RequestContext")<RequestContext, RequestContextData>() {
  /** The context of this unit of work; its type makes callers declare `RequestContext` in their requirements. */
  static readonly current: Effect.Effect<RequestContextData, never, RequestContext> = RequestContext
  /** For code that works with or without a unit of work (loggers, infrastructure). Never fails. */
  static readonly currentOption: Effect.Effect<Option.Option<RequestContextData>> = Effect.serviceOption(RequestContext)
  static readonly fromFiberRefs = fromFiberRefs
  static readonly make = make
  static readonly logAnnotations = logAnnotations
  /** Provides a context for tests or for an entry adapter's layer. */
  static readonly layer = (ctx: RequestContextData): Layer.Layer<RequestContext> => Layer.succeed(RequestContext, ctx)
  /** Runs `self` as its own unit of work under `ctx`; inner `withContext` calls override it only inside. */
  static readonly withContext =
    (ctx: RequestContextData) =>
    <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, RequestContext>> =>
      Effect.provideService(self, RequestContext, ctx)
  /** A fresh system context with its own `JOB-…` request id and trace. */
  static readonly system = (
    reason: string,
    scope: { readonly organizationId?: OrganizationId; readonly projectId?: ProjectId | null } = {}
  ): RequestContextData =>
    make({
      origin: "system",
      actor: { _tag: "system", reason },
      organizationId: scope.organizationId ?? SYSTEM_ORGANIZATION_ID,
      projectId: scope.projectId ?? null
    })
}
