/**
 * The limits area as the api role runs it (src/Limits/LimitsLive.ts: rate-limit step, logs quota, creation limits,
 * alert-evaluation gate, usage flush), for tests of the whole application. Each test file gets its own Redis key
 * prefix, so its usage flush only ever sees its own organizations: put `limitsConfig(label)` into the file's config
 * map, or use `testLimits(label)`, which reads the environment plus that prefix.
 */
import { ConfigProvider, Layer } from "effect"
import { AuditLog } from "../../src/Audit/AuditLog.js"
import { LimitsLive } from "../../src/Limits/LimitsLive.js"

export const limitsConfig = (label: string): Record<string, string> => ({
  THREADLINE_LIMITS_PREFIX: `tltest:limits:${label}:${process.pid}:${Date.now().toString(36)}`
})

export const TestLimitsLive = LimitsLive.pipe(Layer.provide(AuditLog.Default))

/** TestLimitsLive configured from the environment with a prefix of its own. */
export const testLimits = (label: string) => {
  const env = new Map<string, string>()
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env.set(k, v)
  for (const [k, v] of Object.entries(limitsConfig(label))) env.set(k, v)
  return TestLimitsLive.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(env))))
}
