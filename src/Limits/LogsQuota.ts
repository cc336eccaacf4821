/**
 * The logs area's `Quota` service, backed by this area's quotas: provide `LogsQuota.layer` where main.ts now
 * provides `Quota.AllowAll`.
 */
import { Effect, Layer } from "effect"
import { Quota } from "../Logs/Quota.js"
import { Quotas } from "./Quotas.js"

export const LogsQuota = {
  layer: Layer.effect(
    Quota,
    Effect.map(Quotas, (q) => Quota.make({ checkIngest: q.checkIngest, checkQuery: q.checkQuery }))
  ) satisfies Layer.Layer<Quota, never, Quotas>
} as const
