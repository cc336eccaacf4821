/**
 * The Redis connections BullMQ runs on, as one scoped service. Queues, workers and schedulers share them (BullMQ
 * never closes a connection it was given), and they are closed after everything built on them has closed.
 */
import { Data, Duration, Effect, Redacted } from "effect"
import { Redis, type RedisOptions } from "ioredis"
import { AppConfig } from "../Config.js"

export class RedisUnavailable extends Data.TaggedError("RedisUnavailable")<{ readonly cause: unknown }> {
  override get message() {
    return `cannot connect to Redis: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

const CONNECT_TIMEOUT = Duration.seconds(10)

const connect = (url: string, options: RedisOptions) =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const client = new Redis(url, { ...options, lazyConnect: true })
      // Without a listener ioredis prints every reconnect error; the connection keeps retrying on its own.
      client.on("error", () => {})
      yield* Effect.tryPromise({ try: () => client.connect(), catch: (cause) => new RedisUnavailable({ cause }) }).pipe(
        Effect.timeoutFail({ duration: CONNECT_TIMEOUT, onTimeout: () => new RedisUnavailable({ cause: "timeout" }) }),
        Effect.tapError(() => Effect.sync(() => client.disconnect()))
      )
      return client
    }),
    (client) =>
      Effect.promise(() => client.quit().catch(() => "closed")).pipe(
        Effect.timeout("2 seconds"),
        Effect.ignore,
        Effect.ensuring(Effect.sync(() => client.disconnect()))
      )
  )

export class QueueRedis extends Effect.Service<QueueRedis>()("Queue/Redis", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const url = Redacted.value(config.redisUrl)
    return {
      /** For workers: BullMQ requires commands to wait through reconnects (`maxRetriesPerRequest: null`). */
      worker: yield* connect(url, { maxRetriesPerRequest: null, enableReadyCheck: true }),
      /** For producers: an enqueue fails after a few retries instead of hanging the request that makes it. */
      producer: yield* connect(url, { maxRetriesPerRequest: 3, enableReadyCheck: true }),
      prefix: config.queuePrefix
    } as const
  }).pipe(Effect.orDie)
}) {}
