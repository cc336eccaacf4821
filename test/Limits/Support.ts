/**
 * Fixtures for the limits tests: a per-file copy of the migrated database (TestDatabase) with the limits area's
 * storage ports as the application wires them, real organization rows (`organizations`, inserted as the owner),
 * a per-file Redis key prefix, contexts, a log capture, and a private redis-server child for the outage tests.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { SqlClient } from "@effect/sql"
import { ConfigProvider, Effect, Layer, Logger, Option, Schedule } from "effect"
import { Redis } from "ioredis"
import { AuditLog } from "../../src/Audit/AuditLog.js"
import { AppConfig } from "../../src/Config.js"
import { Buckets } from "../../src/Limits/Buckets.js"
import { LimitsConfig } from "../../src/Limits/LimitsConfig.js"
import { LimitsRedis } from "../../src/Limits/LimitsRedis.js"
import {
  LimitsAuditLive,
  LimitsStorageLive,
  OverridesStoreLive,
  ResourceCountsLive
} from "../../src/Limits/LimitsStorage.js"
import type { OverridesPatch } from "../../src/Limits/LimitsDocument.js"
import { OrganizationLimits } from "../../src/Limits/OrganizationLimits.js"
import { Quotas } from "../../src/Limits/Quotas.js"
import { RateLimiter } from "../../src/Limits/RateLimiter.js"
import { Usage } from "../../src/Limits/Usage.js"
import { UsageFlush } from "../../src/Limits/UsageFlush.js"
import { toLine } from "../../src/Logging.js"
import {
  type ApiKeyId,
  type OrganizationId,
  type ProjectId,
  RequestContext,
  type RequestContextData,
  type UserId
} from "../../src/RequestContext.js"
import { ownerOf } from "../../src/Sql/Client.js"
import { TestDatabase } from "../support/Database.js"

export const redisUrl = (): string => {
  const url = process.env.REDIS_URL
  if (url === undefined || url === "") throw new Error("REDIS_URL must point at a real Redis for the limits tests")
  return url
}

/** A fresh copy of the migrated template for one test file, as the app login (dropped when the layer closes). */
export const databaseLayer = (label: string) => TestDatabase.layer(`limits_${label}`)

/** The limits area's storage ports (overrides, resource counts, audit) as the application wires them. */
export const LimitsPortsLive = Layer.mergeAll(OverridesStoreLive, ResourceCountsLive, LimitsAuditLive).pipe(
  Layer.provide(AuditLog.Default)
)

/**
 * The limits services wired as src/Limits/LimitsLive.ts wires them (one LimitsRedis, the storage ports with their
 * tenant transactions and the audited bypass), without its adapters and periodic flush: tests flush by hand.
 */
export const LimitsServicesLive = Layer.mergeAll(
  Quotas.DefaultWithoutDependencies,
  RateLimiter.DefaultWithoutDependencies,
  UsageFlush.DefaultWithoutDependencies
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      Buckets.DefaultWithoutDependencies,
      OrganizationLimits.DefaultWithoutDependencies,
      Usage.DefaultWithoutDependencies
    )
  ),
  Layer.provideMerge(Layer.merge(LimitsRedis.DefaultWithoutDependencies, LimitsStorageLive)),
  Layer.provideMerge(LimitsConfig.Default),
  Layer.provide(AuditLog.Default)
)

/** The owner client of the test database, without name transforms: fixtures and checks across tenants. */
export const ownerSql = Effect.map(SqlClient.SqlClient, (sql) =>
  Option.getOrThrowWith(ownerOf(sql), () => new Error("the test database has no owner client")).withoutTransforms()
)

/** The project `keyContext` names for an organization. */
export const projectOf = (org: string): ProjectId => `prj_${org.slice(4)}` as ProjectId

/** Organization rows (and the project `keyContext` names) for ids the tests made up; existing ones are kept. */
export const organizations = (...ids: ReadonlyArray<string>) =>
  Effect.flatMap(ownerSql, (sql) =>
    Effect.forEach(
      ids,
      (id) =>
        Effect.zipRight(
          sql`INSERT INTO organizations (id, slug, name)
            VALUES (${id}, ${id
              .toLowerCase()
              .replace(/[^a-z0-9]+/g, "-")
              .slice(0, 48)}, ${id})
            ON CONFLICT (id) DO NOTHING`,
          sql`INSERT INTO projects (id, organization_id, name) VALUES (${projectOf(id)}, ${id}, ${id})
            ON CONFLICT (id) DO NOTHING`
        ),
      { discard: true }
    )
  ).pipe(Effect.orDie)

export const uniquePrefix = (file: string): string => `tltest-limits-${file}-${Date.now().toString(36)}`

/** Environment with overrides, as the ConfigProvider every layer of a test reads. */
export const configProvider = (overrides: Record<string, string>) => {
  const env = new Map<string, string>()
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env.set(k, v)
  for (const [k, v] of Object.entries(overrides)) env.set(k, v)
  return Layer.setConfigProvider(ConfigProvider.fromMap(env))
}

export const appConfig = (overrides: Record<string, string>): Layer.Layer<AppConfig> =>
  AppConfig.Default.pipe(Layer.provide(configProvider(overrides)), Layer.orDie)

export type Line = Record<string, unknown>
export const captureLogs = (lines: Array<Line>): Layer.Layer<never> =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make((options) => {
      lines.push(toLine(options))
    })
  )

/** Deletes every key under the prefix. */
export const cleanup = async (prefix: string, url = redisUrl()): Promise<void> => {
  const redis = new Redis(url)
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

/** A platform administrator's PUT: overrides are written under a user context, which becomes `updated_by`. */
export const setLimits = (organizationId: OrganizationId, patch: OverridesPatch) =>
  Effect.zipRight(
    organizations(organizationId),
    Effect.flatMap(OrganizationLimits, (limits) => Effect.map(limits.put(organizationId, patch), (r) => r.after)).pipe(
      RequestContext.withContext(userContext(organizationId, "usr_platformadmin"))
    )
  )

let counter = 0
const requestId = () => `API-${Date.now()}-lim${counter++}` as RequestContextData["requestId"]

export const keyContext = (org: string, key: string): RequestContextData =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "apiKey", apiKeyId: key as ApiKeyId },
    organizationId: org as OrganizationId,
    projectId: projectOf(org),
    requestId: requestId()
  })

export const userContext = (org: string, user: string): RequestContextData =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "user", userId: user as UserId },
    organizationId: org as OrganizationId,
    requestId: requestId()
  })

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** A private redis-server on `port` (no persistence), for tests that stop Redis; resolves once it answers PING. */
export const startRedis = (port: number): Effect.Effect<ChildProcess> =>
  Effect.gen(function* () {
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      {
        stdio: "ignore"
      }
    )
    yield* Effect.tryPromise(async () => {
      const probe = new Redis({
        port,
        host: "127.0.0.1",
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null
      })
      probe.on("error", () => {})
      try {
        await probe.connect()
        await probe.ping()
      } finally {
        probe.disconnect()
      }
    }).pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds"))), Effect.orDie)
    return child
  })

/** Stops a redis-server child and waits until it has exited. */
export const stopRedis = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })
