/**
 * The logs area's `Quota`, backed by this area's quotas (partial acceptance, counted after the write); part of
 * LimitsLive, which main.ts provides to the api role.
 */
import { Effect, Layer } from "effect"
import { Quota } from "../Logs/Quota.js"
import { Quotas } from "./Quotas.js"

export const LogsQuota = {
  layer: Layer.effect(
    Quota,
    Effect.map(Quotas, (q) => Quota.make({ ingest: q.ingest, checkQuery: q.checkQuery }))
  ) satisfies Layer.Layer<Quota, never, Quotas>
} as const
