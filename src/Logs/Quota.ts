/**
 * The quota hook of the logs area: it decides how much of a batch is written (events and bytes, counted after the
 * write) and whether a search may run.
 * It reads the tenant from the RequestContext, so its operations carry `RequestContext` in their requirements.
 * It is a required service: src/Limits/LogsQuota.ts is the layer that counts and refuses (wired in main.ts); tests
 * that do not exercise quotas provide `Quota.allowAll` explicitly.
 */
import { HttpApiSchema } from "@effect/platform"
import { Context, Effect, Layer, Schema } from "effect"
import { RequestContext } from "../RequestContext.js"

export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()(
  "QuotaExceeded",
  {
    message: Schema.String,
    /** Seconds until the quota window allows more; sent as `Retry-After`. */
    retryAfterSeconds: Schema.Number,
    /**
     * A batch cut at the quota: one element `{ received, rejected }` saying exactly which entries were stored
     * (`received` of them, in body order) and which were not (`rejected`, with their index and reason, including
     * `quota exceeded` for the tail the quota refused).
     */
    details: Schema.optional(Schema.Array(Schema.Unknown))
  },
  HttpApiSchema.annotations({ status: 429 })
) {}

/** What the quota let through of one batch: its first `accepted` entries. */
export interface IngestGrant {
  readonly accepted: number
  readonly acceptedBytes: number
  readonly refused: number
  /** When entries were refused: seconds until the quota allows more (`Retry-After`). */
  readonly retryAfterSeconds: number | null
}

export interface QuotaShape {
  /**
   * Ingests the longest prefix of a batch the quota allows. `sizes[i]` is the byte size counted for entry i;
   * `write(n)` must store exactly the first n entries (and fail if it stored none). Usage is counted only for what
   * was written: a failed write gives its reservation back. Fails with QuotaExceeded when nothing fits.
   */
  readonly ingest: <A, E, R>(
    sizes: ReadonlyArray<number>,
    write: (accepted: number) => Effect.Effect<A, E, R>
  ) => Effect.Effect<{ readonly grant: IngestGrant; readonly result: A }, QuotaExceeded | E, R | RequestContext>
  readonly checkQuery: Effect.Effect<void, QuotaExceeded, RequestContext>
}

/** Typed with the full shape (not inferred) so that a replacement layer may fail with QuotaExceeded. */
const allowAll: QuotaShape = {
  ingest: (sizes, write) =>
    Effect.zipRight(
      RequestContext.current,
      Effect.map(write(sizes.length), (result) => ({
        grant: {
          accepted: sizes.length,
          acceptedBytes: sizes.reduce((a, b) => a + b, 0),
          refused: 0,
          retryAfterSeconds: null
        },
        result
      }))
    ),
  checkQuery: Effect.asVoid(RequestContext.current)
}

/**
 * A required service (a Tag, not a Reference with an allow-all default): code that composes the logs services
 * without a quota does not build, so forgetting the limits area can never mean "no quota". The logs services take
 * it when their layer is built. test/Limits/Http.test.ts serves the api role's own composition and proves the
 * quota is enforced there.
 */
export class Quota extends Context.Tag("Logs/Quota")<Quota, QuotaShape>() {
  /** Allows everything: for tests that do not exercise quotas. */
  static readonly allowAll: Layer.Layer<Quota> = Layer.succeed(Quota, allowAll)
  static readonly make = (shape: QuotaShape): QuotaShape => shape
}
