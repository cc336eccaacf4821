/**
 * The limits area as the api role runs it (src/Limits/LimitsLive.ts: rate-limit step, logs quota, usage flush),
 * for test servers of the whole application. Each test file gets its own Redis key prefix (put `limitsConfig(label)`
 * into its config map), so its usage flush only ever sees its own organizations.
 */
import { Layer } from "effect"
import { AuditLog } from "../../src/Audit/AuditLog.js"
import { LimitsLive } from "../../src/Limits/LimitsLive.js"

export const limitsConfig = (label: string): Record<string, string> => ({
  THREADLINE_LIMITS_PREFIX: `tltest:limits:${label}:${process.pid}:${Date.now().toString(36)}`
})

export const TestLimitsLive = LimitsLive.pipe(Layer.provide(AuditLog.Default))
