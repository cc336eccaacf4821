/**
 * Fixtures for the queue tests: a per-file queue prefix (so files never see each other's jobs), the queue layers
 * against the real Redis in REDIS_URL, a log capture, contexts, and a poll helper.
 */
import { Queue } from "bullmq"
import { ConfigProvider, Duration, Effect, Layer, Logger, Schedule } from "effect"
import { Redis } from "ioredis"
import { AppConfig } from "../../src/Config.js"
import { toLine } from "../../src/Logging.js"
import { Envelope } from "../../src/Queue/Envelope.js"
import { Producer } from "../../src/Queue/Producer.js"
import { QueueRedis } from "../../src/Queue/Redis.js"
import {
  type OrganizationId,
  type ProjectId,
  RequestContext,
  type RequestContextData,
  type RequestId,
  type UserId
} from "../../src/RequestContext.js"

export const redisUrl = (): string => {
  const url = process.env.REDIS_URL
  if (url === undefined || url === "") throw new Error("REDIS_URL must point at a real Redis for the queue tests")
  return url
}

export const uniquePrefix = (file: string): string => `tltest-${file}-${Date.now().toString(36)}`

/** AppConfig from the environment, with overrides (queue prefix, secret key, shutdown bound). */
export const configLayer = (overrides: Record<string, string>): Layer.Layer<AppConfig> => {
  const env = new Map<string, string>()
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env.set(k, v)
  for (const [k, v] of Object.entries(overrides)) env.set(k, v)
  return AppConfig.Default.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(env))), Layer.orDie)
}

export type Line = Record<string, unknown>

/** Log lines as the JSON logger would write them, kept in memory. */
export const captureLogs = (lines: Array<Line>): Layer.Layer<never> =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make((options) => {
      lines.push(toLine(options))
    })
  )

export const queueLayer = (prefix: string, lines: Array<Line>, overrides: Record<string, string> = {}) =>
  Layer.mergeAll(QueueRedis.Default, Envelope.Default, Producer.Default).pipe(
    Layer.provideMerge(configLayer({ THREADLINE_QUEUE_PREFIX: prefix, ...overrides })),
    Layer.provideMerge(captureLogs(lines))
  )

/** Deletes every key under the prefix; run once per file when it ends. */
export const cleanup = async (prefix: string): Promise<void> => {
  const redis = new Redis(redisUrl())
  try {
    let cursor = "0"
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
    } while (cursor !== "0")
  } finally {
    await redis.quit()
  }
}

/** A raw BullMQ queue on the test prefix, for adding hand-made jobs and inspecting states. */
export const rawQueue = (name: string) =>
  Effect.flatMap(QueueRedis, (redis) =>
    Effect.acquireRelease(
      Effect.sync(() => new Queue(name, { connection: redis.producer, prefix: redis.prefix })),
      (q) => Effect.promise(() => q.close())
    )
  )

let counter = 0
export const contextFor = (n: number, overrides: Partial<RequestContextData> = {}): RequestContextData => ({
  ...RequestContext.make({
    origin: "http",
    actor: { _tag: "user", userId: `usr_u${n}` as UserId },
    organizationId: `org_o${n}` as OrganizationId,
    projectId: `prj_p${n}` as ProjectId,
    requestId: `API-${Date.now()}-t${n}x${counter++}` as RequestId
  }),
  ...overrides
})

/** Re-runs `check` until it returns true; fails after `within`. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within: Duration.DurationInput = "20 seconds") =>
  check.pipe(
    Effect.filterOrFail(
      (ok) => ok,
      () => "not yet"
    ),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({
      duration: within,
      onTimeout: () => new Error(`condition not met within ${Duration.format(within)}`)
    }),
    Effect.asVoid
  )

export const jobName = (base: string): string => `${base}-${Math.random().toString(36).slice(2, 8)}`
