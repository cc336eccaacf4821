/**
 * The Redis connection of the limits area, apart from the queue's: it is tuned to fail fast (no offline queue, no
 * retries, a short command timeout) because a limit check sits in front of every request and must never wait for a
 * Redis that is gone. Callers decide how to degrade (README.md); this service only reports each failure (a metric
 * per failure, a log line per transition between reachable and unreachable) so an outage is visible once, not once
 * per request.
 */
import { Data, Duration, Effect, Metric, Redacted, Ref } from "effect"
import { Redis } from "ioredis"
import { AppConfig } from "../Config.js"
import { LimitsConfig } from "./LimitsConfig.js"

export class LimitsRedisDown extends Data.TaggedError("LimitsRedisDown")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message() {
    return `limits Redis ${this.operation} failed: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** Every Redis command of the limits area that failed, by operation; an outage shows as a rising rate. */
export const redisFailures = Metric.counter("threadline_limits_redis_failures_total", {
  description: "Limit and quota operations that could not reach Redis and used their fallback",
  incremental: true
})

/** How long start-up waits for the first connection; the service starts degraded rather than not at all. */
const READY_WAIT = Duration.seconds(5)

export class LimitsRedis extends Effect.Service<LimitsRedis>()("Limits/Redis", {
  scoped: Effect.gen(function* () {
    const app = yield* AppConfig
    const config = yield* LimitsConfig
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const redis = new Redis(Redacted.value(app.redisUrl), {
          // the commands of one tick (a request's two buckets, concurrent requests) leave in one socket write
          enableAutoPipelining: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: Duration.toMillis(config.redisTimeout),
          connectTimeout: 2_000,
          retryStrategy: (attempt) => Math.min(attempt * 100, 1_000)
        })
        // Failures surface on the commands; without a listener ioredis would print every reconnect attempt.
        redis.on("error", () => {})
        return redis
      }),
      (redis) =>
        Effect.promise(() => redis.quit().catch(() => "closed")).pipe(
          Effect.timeout("2 seconds"),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => redis.disconnect()))
        )
    )
    yield* Effect.async<void>((resume) => {
      if (client.status === "ready") return resume(Effect.void)
      const ready = () => resume(Effect.void)
      client.once("ready", ready)
      return Effect.sync(() => client.off("ready", ready))
    }).pipe(
      Effect.timeout(READY_WAIT),
      Effect.catchTag("TimeoutException", () =>
        Effect.logWarning("limits: Redis not reachable at start-up; limits run degraded until it is")
      )
    )

    const down = yield* Ref.make(false)
    const noteFailure = (error: LimitsRedisDown) =>
      Effect.zipRight(
        Metric.increment(Metric.tagged(redisFailures, "operation", error.operation)),
        Effect.whenEffect(
          Effect.logWarning("limits: Redis unreachable; limits run degraded (src/Limits/README.md)", {
            operation: error.operation,
            error: error.message
          }),
          Ref.getAndSet(down, true).pipe(Effect.map((was) => !was))
        )
      )
    const noteSuccess = Effect.whenEffect(
      Effect.logInfo("limits: Redis reachable again; shared limits resume"),
      Ref.getAndSet(down, false)
    )

    /** Runs one Redis call; a failure is counted, logged on the transition, and returned typed for the fallback. */
    const run = <A>(operation: string, f: (redis: Redis) => Promise<A>): Effect.Effect<A, LimitsRedisDown> =>
      Effect.tryPromise({ try: () => f(client), catch: (cause) => new LimitsRedisDown({ operation, cause }) }).pipe(
        Effect.tapBoth({ onFailure: noteFailure, onSuccess: () => noteSuccess })
      )

    /** Records a failure seen outside `run` (the rate-limiter library talks to the client itself). */
    const failed = (operation: string, cause: unknown) => noteFailure(new LimitsRedisDown({ operation, cause }))

    return { client, prefix: config.redisPrefix, run, failed, succeeded: noteSuccess, isDown: Ref.get(down) } as const
  }),
  dependencies: [LimitsConfig.Default]
}) {}
