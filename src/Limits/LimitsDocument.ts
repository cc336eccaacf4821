/**
 * The limits document of API.md: the limits in force for an organization (defaults merged with its overrides), the
 * overrides a platform administrator sets, and the usage shown beside them. Schemas, so the HTTP group of phase 2
 * declares its bodies with these and the OpenAPI document matches what the services use.
 */
import { Schema } from "effect"

/** 0 is allowed, as in `organization_limits`: it suspends what it limits (no requests, no ingestion, no new keys). */
const Count = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0), Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER))
const Used = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))

export const RateLimits = Schema.Struct({ requestsPerMinute: Count, apiKeyRequestsPerMinute: Count })
export const Quotas = Schema.Struct({
  ingestEventsPerMonth: Count,
  ingestBytesPerMonth: Count,
  storageBytes: Count,
  alertRules: Count,
  apiKeys: Count
})

/** What an organization may do: every field set. */
export const EffectiveLimits = Schema.Struct({ rateLimit: RateLimits, quotas: Quotas })
export type EffectiveLimits = typeof EffectiveLimits.Type

export type RateLimitName = keyof typeof RateLimits.fields
export type QuotaName = keyof typeof Quotas.fields

/** Stored overrides: a missing field means "the default". */
export interface LimitOverrides {
  readonly rateLimit: { readonly [K in RateLimitName]?: number }
  readonly quotas: { readonly [K in QuotaName]?: number }
}
export const noOverrides: LimitOverrides = { rateLimit: {}, quotas: {} }

const Change = Schema.optional(Schema.NullOr(Count))

/** The PUT body: any subset; `null` restores the default, an absent field is left as it is. */
export const OverridesPatch = Schema.Struct({
  rateLimit: Schema.optional(Schema.Struct({ requestsPerMinute: Change, apiKeyRequestsPerMinute: Change })),
  quotas: Schema.optional(
    Schema.Struct({
      ingestEventsPerMonth: Change,
      ingestBytesPerMonth: Change,
      storageBytes: Change,
      alertRules: Change,
      apiKeys: Change
    })
  )
})
export type OverridesPatch = typeof OverridesPatch.Type

export const Usage = Schema.Struct({
  ingestEventsThisMonth: Used,
  ingestBytesThisMonth: Used,
  storageBytes: Used,
  alertRules: Used,
  apiKeys: Used,
  /** Jobs enqueued on behalf of the organization this month (not in API.md's minimum; added to the document). */
  jobsThisMonth: Used
})
export type Usage = typeof Usage.Type

/** The GET reply. */
export const LimitsDocument = Schema.Struct({ rateLimit: RateLimits, quotas: Quotas, usage: Usage })
export type LimitsDocument = typeof LimitsDocument.Type

/** Defaults with the overrides laid over them. */
export const applyOverrides = (defaults: EffectiveLimits, overrides: LimitOverrides): EffectiveLimits => ({
  rateLimit: { ...defaults.rateLimit, ...overrides.rateLimit },
  quotas: { ...defaults.quotas, ...overrides.quotas }
})

/** The overrides after a PUT: `null` deletes a field, a number sets it, an absent field keeps the stored value. */
export const patchOverrides = (current: LimitOverrides, patch: OverridesPatch): LimitOverrides => {
  const merge = <K extends string>(
    base: { readonly [k in K]?: number },
    changes: { readonly [k in K]?: number | null | undefined } | undefined
  ): { [k in K]?: number } => {
    const out: { [k in K]?: number } = { ...base }
    for (const [k, v] of Object.entries(changes ?? {}) as Array<[K, number | null | undefined]>) {
      if (v === null) delete out[k]
      else if (v !== undefined) out[k] = v
    }
    return out
  }
  return { rateLimit: merge(current.rateLimit, patch.rateLimit), quotas: merge(current.quotas, patch.quotas) }
}
