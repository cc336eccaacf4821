/**
 * PROVISIONAL: a per-file database with a logs table shaped like the storage migration (daily partitions,
 * full-text GIN index), used until test/support/Database.ts and the migrations land. Then this file goes.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import pg from "pg"

const baseUrl = process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:55432/postgres"

const admin = async <A>(f: (c: pg.Client) => Promise<A>): Promise<A> => {
  const c = new pg.Client({ connectionString: baseUrl })
  await c.connect()
  try {
    return await f(c)
  } finally {
    await c.end()
  }
}

const DDL = `
CREATE TABLE logs (
  id bigint GENERATED ALWAYS AS IDENTITY,
  time timestamptz NOT NULL, organization_id text NOT NULL, project_id text NOT NULL,
  service text NOT NULL, level text NOT NULL, message text NOT NULL, metadata jsonb,
  trace_id text, span_id text, session_id text, received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (time);
CREATE TABLE logs_default PARTITION OF logs DEFAULT;
CREATE INDEX ON logs (project_id, time DESC, id DESC);
CREATE INDEX ON logs USING gin (to_tsvector('simple', message));
CREATE INDEX ON logs (trace_id) WHERE trace_id IS NOT NULL;
CREATE TABLE projects (id text PRIMARY KEY, organization_id text NOT NULL);
`

export const tempDbLayer = (
  name: string
): Layer.Layer<PgClient.PgClient | import("@effect/sql").SqlClient.SqlClient> => {
  const db = `t_logs_${name}_${process.pid}`
  const url = new URL(baseUrl)
  url.pathname = `/${db}`
  const create = Effect.promise(() =>
    admin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${db}`)
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
      Effect.as(PgClient.layer({ url: Redacted.make(url.toString()) }).pipe(Layer.orDie))
    )
  )
}
