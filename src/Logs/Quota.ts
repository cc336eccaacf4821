/**
 * The quota hook of the logs area: asked before an ingest is written (events and bytes) and before a search runs.
 * It reads the tenant from the RequestContext, so its operations carry `RequestContext` in their requirements.
 * The default allows everything; the limits issue replaces the layer with one that counts and refuses.
 */
import { HttpApiSchema } from "@effect/platform"
import { Effect, Layer, Schema } from "effect"
import { RequestContext } from "../RequestContext.js"

export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()(
  "QuotaExceeded",
  {
    message: Schema.String,
    /** Seconds until the quota window allows more; sent as `Retry-After`. */
    retryAfterSeconds: Schema.Number
  },
  HttpApiSchema.annotations({ status: 429 })
) {}

export interface QuotaShape {
  readonly checkIngest: (usage: {
    readonly events: number
    readonly bytes: number
  }) => Effect.Effect<void, QuotaExceeded, RequestContext>
  readonly checkQuery: Effect.Effect<void, QuotaExceeded, RequestContext>
}

/** Typed with the full shape (not inferred) so that a replacement layer may fail with QuotaExceeded. */
const allowAll: QuotaShape = {
  checkIngest: () => Effect.asVoid(RequestContext.current),
  checkQuery: Effect.asVoid(RequestContext.current)
}

export class Quota extends Effect.Service<Quota>()("Logs/Quota", { succeed: allowAll }) {
  /** The allow-all default, named for the place where layers are composed. */
  static readonly AllowAll: Layer.Layer<Quota> = Quota.Default
}
