/**
 * Fixtures for the limits tests: a per-file Postgres database holding the tables this area reads and writes
 * (`organization_limits` and `usage_counters` as migration 0004 makes them, plus minimal stand-ins of tables other
 * areas own, so the ports have a real backing), Postgres implementations of those ports, a per-file Redis key
 * prefix, contexts, a log capture, and a private redis-server child for the outage tests.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Effect, Layer, Logger, Redacted, Schedule } from "effect"
import { Redis } from "ioredis"
import pg from "pg"
import { AppConfig } from "../../src/Config.js"
import { LimitsAudit } from "../../src/Limits/LimitsAudit.js"
import type { OverridesPatch } from "../../src/Limits/LimitsDocument.js"
import { OrganizationLimits } from "../../src/Limits/OrganizationLimits.js"
import { ResourceCounts } from "../../src/Limits/ResourceCounts.js"
import { toLine } from "../../src/Logging.js"
import {
  type ApiKeyId,
  type OrganizationId,
  type ProjectId,
  RequestContext,
  type RequestContextData,
  type UserId
} from "../../src/RequestContext.js"

export const baseDatabaseUrl =
  process.env.DATABASE_OWNER_URL ?? process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:55432/postgres"
export const redisUrl = (): string => {
  const url = process.env.REDIS_URL
  if (url === undefined || url === "") throw new Error("REDIS_URL must point at a real Redis for the limits tests")
  return url
}

/**
 * `organization_limits` and `usage_counters` exactly as migration 0004 creates them (RLS aside: phase 2 moves these
 * tests to TestDatabase and the Tenant wrappers), plus the `jobs` column proposed in README.md, and stand-ins for
 * tables of other areas so the ports have a real backing.
 */
export const DDL = `
CREATE TABLE organization_limits (
  organization_id text PRIMARY KEY,
  requests_per_minute integer CHECK (requests_per_minute >= 0),
  api_key_requests_per_minute integer CHECK (api_key_requests_per_minute >= 0),
  ingest_events_per_month bigint CHECK (ingest_events_per_month >= 0),
  ingest_bytes_per_month bigint CHECK (ingest_bytes_per_month >= 0),
  storage_bytes bigint CHECK (storage_bytes >= 0),
  alert_rules integer CHECK (alert_rules >= 0),
  api_keys integer CHECK (api_keys >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text
);
CREATE TABLE usage_counters (
  organization_id text NOT NULL,
  month date NOT NULL CHECK (extract(day FROM month) = 1),
  ingest_events bigint NOT NULL DEFAULT 0,
  ingest_bytes bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, month)
);
ALTER TABLE usage_counters ADD COLUMN jobs bigint NOT NULL DEFAULT 0;
CREATE TABLE alert_rules (id text PRIMARY KEY, organization_id text NOT NULL, name text NOT NULL);
CREATE TABLE api_keys (id text PRIMARY KEY, organization_id text NOT NULL, name text NOT NULL);
CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY, organization_id text NOT NULL, action text NOT NULL,
  actor text NOT NULL, request_id text NOT NULL, details jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE stored_bytes (organization_id text PRIMARY KEY, bytes bigint NOT NULL);
CREATE TABLE ingested (organization_id text NOT NULL, batch text NOT NULL, position int NOT NULL, bytes int NOT NULL);
`

const admin = async <A>(f: (c: pg.Client) => Promise<A>): Promise<A> => {
  const c = new pg.Client({ connectionString: baseDatabaseUrl })
  await c.connect()
  try {
    return await f(c)
  } finally {
    await c.end()
  }
}

/** A fresh database for one test file (dropped when the layer closes). */
export const databaseUrl = (label: string): string => {
  const url = new URL(baseDatabaseUrl)
  url.pathname = `/t_limits_${label}_${process.pid}`
  return url.toString()
}

export const databaseLayer = (label: string): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient> => {
  const db = `t_limits_${label}_${process.pid}`
  const url = new URL(databaseUrl(label))
  const create = Effect.promise(() =>
    admin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
      await c.query(`CREATE DATABASE ${db}`)
      const t = new pg.Client({ connectionString: url.toString() })
      await t.connect()
      await t.query(DDL)
      await t.end()
    })
  )
  const drop = Effect.promise(() => admin((c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)))
  return Layer.unwrapScoped(
    Effect.acquireRelease(create, () => drop).pipe(
      Effect.as(PgClient.layer({ url: Redacted.make(url.toString()), maxConnections: 20 }).pipe(Layer.orDie))
    )
  )
}

/** The resource counts port on the stand-in tables; `count` runs on the caller's connection (its transaction). */
export const ResourceCountsSql = Layer.effect(
  ResourceCounts,
  Effect.map(SqlClient.SqlClient, (sql) =>
    ResourceCounts.of({
      count: (resource) =>
        Effect.flatMap(RequestContext, (ctx) => {
          const table = resource === "alertRules" ? sql`alert_rules` : sql`api_keys`
          return sql<{
            n: number
          }>`SELECT count(*)::int AS n FROM ${table} WHERE organization_id = ${ctx.organizationId}`
        }).pipe(
          Effect.map((rows) => rows[0]?.n ?? 0),
          Effect.orDie
        ),
      storageBytes: (org) =>
        sql<{
          b: string
        }>`SELECT coalesce(sum(bytes), 0)::text AS b FROM stored_bytes WHERE organization_id = ${org}`.pipe(
          Effect.map((rows) => Number(rows[0]?.b ?? 0)),
          Effect.orDie
        )
    })
  )
)

/** The audit port on the stand-in table: actor and request id come from the context, as src/Audit will do. */
export const LimitsAuditSql = Layer.effect(
  LimitsAudit,
  Effect.map(SqlClient.SqlClient, (sql) =>
    LimitsAudit.of({
      record: (action, details) =>
        Effect.flatMap(RequestContext, (ctx) => {
          const actor = ctx.actor._tag === "system" ? "system" : (ctx.userId ?? ctx.apiKeyId ?? "unknown")
          return sql`INSERT INTO audit_log (organization_id, action, actor, request_id, details)
            VALUES (${ctx.organizationId}, ${action}, ${actor}, ${ctx.requestId}, ${JSON.stringify(details)}::jsonb)`
        }).pipe(Effect.asVoid, Effect.orDie)
    })
  )
)

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
  Effect.flatMap(OrganizationLimits, (limits) => Effect.map(limits.put(organizationId, patch), (r) => r.after)).pipe(
    RequestContext.withContext(userContext(organizationId, "usr_platformadmin"))
  )

let counter = 0
const requestId = () => `API-${Date.now()}-lim${counter++}` as RequestContextData["requestId"]

export const keyContext = (org: string, key: string): RequestContextData =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "apiKey", apiKeyId: key as ApiKeyId },
    organizationId: org as OrganizationId,
    projectId: `prj_${org.slice(4)}` as ProjectId,
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
