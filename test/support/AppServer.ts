/**
 * The api role as main.ts composes it, for tests of the whole application over HTTP: the application's Api
 * (ApiLive, every group, real authentication) through its own wiring (serveWith) on a random port, over a fresh
 * migrated database of its own (RLS on, the app role), real Redis, the real tenancy services and the limits area
 * (rate-limit step, logs quota, creation limits) with a Redis key prefix of its own. `config` adds or overrides
 * settings; the services it is built on stay available to the tests (database, Redis, tenancy, limits).
 */
import { randomBytes } from "node:crypto"
import { ConfigProvider, Layer } from "effect"
import { AppConfig } from "../../src/Config.js"
import * as AccessLog from "../../src/Http/AccessLog.js"
import { RedisPing } from "../../src/Http/HealthHttp.js"
import { ApiLive, serveWith } from "../../src/Http/Server.js"
import { QueueRedis } from "../../src/Queue/Redis.js"
import { ReadSql } from "../../src/Sql/Client.js"
import { TenancyLive } from "../../src/Tenancy/TenancyLive.js"
import { TestDatabase } from "./Database.js"
import { limitsConfig, TestLimitsLive } from "./Limits.js"

export const appServer = (label: string, config: Record<string, string> = {}) => {
  const provider = ConfigProvider.fromMap(
    new Map(
      Object.entries({
        THREADLINE_ENV: "test",
        REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6390",
        THREADLINE_QUEUE_PREFIX: `tl-test-${label}-${randomBytes(4).toString("hex")}`,
        // every test registers and logs in from 127.0.0.1
        THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000",
        ...limitsConfig(label),
        ...config
      })
    )
  )
  return serveWith(ApiLive, { port: 0, host: "127.0.0.1", accessLog: AccessLog.memorySink() }).pipe(
    Layer.provide(RedisPing.fromQueueRedis),
    Layer.provide(ReadSql.fromPrimary),
    Layer.provideMerge(Layer.merge(TenancyLive, TestLimitsLive)),
    Layer.provideMerge(QueueRedis.Default),
    Layer.provideMerge(TestDatabase.layer(label)),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(Layer.setConfigProvider(provider))
  )
}
