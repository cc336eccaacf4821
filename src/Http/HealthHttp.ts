/**
 * Handlers of the health group. Readiness runs both checks concurrently, each bounded by READY_TIMEOUT, and never
 * fails for a reason other than a dependency being down.
 */
import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Context, Duration, Effect, Layer } from "effect"
import { QueueRedis } from "../Queue/Redis.js"
import { Api } from "./Api.js"
import { NotReady, type Ready } from "./HealthApi.js"

export const READY_TIMEOUT = Duration.millis(1_000)

/** The Redis check, apart so that a process without queues can supply its own. */
export class RedisPing extends Context.Tag("Http/RedisPing")<RedisPing, Effect.Effect<void, unknown>>() {
  /** PING on the producers' connection, which fails fast instead of waiting through reconnects. */
  static readonly fromQueueRedis: Layer.Layer<RedisPing, never, QueueRedis> = Layer.effect(
    RedisPing,
    Effect.map(QueueRedis, (redis) => Effect.tryPromise(() => redis.producer.ping()).pipe(Effect.asVoid))
  )
}

const probe = <E, R>(check: Effect.Effect<unknown, E, R>) =>
  check.pipe(
    Effect.timeout(READY_TIMEOUT),
    Effect.match({ onFailure: () => "down" as const, onSuccess: () => "up" as const })
  )

export const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const ping = yield* RedisPing
    const health = { status: "ok" } as const
    return handlers
      .handle("health", () => Effect.succeed(health))
      .handle("ready", () =>
        Effect.gen(function* () {
          const [postgres, redis] = yield* Effect.all([probe(sql`SELECT 1`.withoutTransform), probe(ping)], {
            concurrency: 2
          })
          if (postgres === "up" && redis === "up")
            return { status: "ready", checks: { postgres, redis } } satisfies Ready
          return yield* new NotReady({
            message: "a dependency is unavailable",
            details: [
              { path: "postgres", message: postgres },
              { path: "redis", message: redis }
            ]
          })
        })
      )
  })
)
