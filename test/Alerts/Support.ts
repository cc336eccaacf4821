/**
 * Fixtures for the alert tests: a loopback webhook receiver with scripted answers per path, the alert services on
 * a per-file database and queue prefix (real Postgres, real Redis), workers for the three alert jobs, a tenant, and
 * a table lock held from an owner session (to catch a statement in pg_stat_activity while it waits).
 */
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { Duration, Effect, Layer, Option, Schedule } from "effect"
import pg from "pg"
import { AlertsTick, DeliverWebhook, EvaluateAlert } from "../../src/Alerts/AlertJobs.js"
import { AlertsLive, handlers } from "../../src/Alerts/AlertsLive.js"
import { DeliveryBackoff } from "../../src/Alerts/Deliver.js"
import * as Consumer from "../../src/Queue/Consumer.js"
import { OrganizationsRepo } from "../../src/Sql/OrganizationsRepo.js"
import { ProjectsRepo } from "../../src/Sql/ProjectsRepo.js"
import { RequestContext } from "../../src/RequestContext.js"
import { tenant } from "../Sql/Fixtures.js"
import { TestDatabase, TestDatabaseInfo } from "../support/Database.js"
import { testLimits } from "../support/Limits.js"
import { type Line, queueLayer } from "../Queue/Support.js"

export interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** A receiver on 127.0.0.1: answers each path with its scripted statuses in order, then 200; status 0 never answers. */
export const receiver = Effect.acquireRelease(
  Effect.async<{
    readonly base: string
    readonly received: Array<Received>
    readonly script: Map<string, Array<number>>
    close: () => Promise<void>
  }>((resume) => {
    const received: Array<Received> = []
    const script = new Map<string, Array<number>>()
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const path = req.url ?? "/"
        received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })
        const status = script.get(path)?.shift() ?? 200
        if (status === 0) return
        res.writeHead(status, { "content-type": "text/plain" }).end(`answer ${status}`)
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(
        Effect.succeed({
          base: `http://127.0.0.1:${port}`,
          received,
          script,
          close: () =>
            new Promise<void>((r) => {
              server.close(() => r())
              // the hanging requests of the timeout test would keep the server open
              server.closeAllConnections()
            })
        })
      )
    })
  }),
  (r) => Effect.promise(r.close)
)

/** Retries after 20 ms, 20 ms; then dead (3 attempts in all), so the tests never wait for the real schedule. */
export const SHORT_STEPS = 2
export const shortBackoff = {
  nextDelay: (attemptsMade: number) =>
    attemptsMade <= SHORT_STEPS ? Option.some(Duration.millis(20)) : Option.none<Duration.Duration>()
}

export const alertsLayer = (file: string, prefix: string, lines: Array<Line>) =>
  Layer.mergeAll(AlertsLive, OrganizationsRepo.Default, ProjectsRepo.Default).pipe(
    // the limits area (rule quota, alert-evaluation gate), as the roles run it
    Layer.provideMerge(testLimits(file)),
    Layer.provideMerge(
      Layer.mergeAll(TestDatabase.layer(file), queueLayer(prefix, lines, { THREADLINE_ALLOW_PRIVATE_WEBHOOKS: "true" }))
    )
  )

/** Workers for the three alert jobs on the test's runtime (log capture, short backoff). */
export const startWorkers = Effect.all([
  Consumer.make(AlertsTick, handlers.tick),
  Consumer.make(EvaluateAlert, handlers.evaluate),
  Consumer.make(DeliverWebhook, handlers.deliver)
]).pipe(Effect.provideService(DeliveryBackoff, shortBackoff))

/** An organization with one project, created under its owner's context. */
export const seedTenant = (name: string) =>
  Effect.gen(function* () {
    const t = tenant(name)
    yield* Effect.gen(function* () {
      yield* (yield* OrganizationsRepo).insert({ slug: t.slug, name: `Org ${name}` })
      yield* (yield* ProjectsRepo).insert({ id: t.project, name: `Project ${name}` })
    }).pipe(RequestContext.withContext(t.userCtx))
    return t
  })

/**
 * Holds an ACCESS EXCLUSIVE lock on `table` from an owner connection until `release` (or the scope's end), so any
 * statement touching it waits, and `waitForBlocked` reads those waiting statements' text from pg_stat_activity:
 * what Postgres itself received, comments included.
 */
export const holdTableLock = (table: string) =>
  Effect.gen(function* () {
    const info = yield* TestDatabaseInfo
    let held = true
    const client = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const c = new pg.Client({ connectionString: info.ownerUrl })
        await c.connect()
        await c.query("BEGIN")
        await c.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
        return c
      }),
      (c) =>
        Effect.promise(async () => {
          if (held) await c.query("ROLLBACK")
          held = false
          await c.end()
        })
    )
    const release = Effect.promise(async () => {
      if (held) await client.query("ROLLBACK")
      held = false
    })
    /**
     * The text of every statement waiting on a lock whose text contains `fragment`; retried until there is one.
     * The view is cached per transaction (stats_fetch_consistency), and this session is inside one: the snapshot
     * is cleared before each look.
     */
    const waitForBlocked = (fragment: string) =>
      Effect.promise(async () => {
        await client.query("SELECT pg_stat_clear_snapshot()")
        return client.query<{ query: string }>(
          `SELECT query FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
              AND strpos(query, $1) > 0`,
          [fragment]
        )
      }).pipe(
        Effect.map((r) => r.rows.map((row) => row.query)),
        Effect.filterOrFail(
          (rows) => rows.length > 0,
          () => "nothing waiting yet"
        ),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("30 seconds")))
      )
    return { release, waitForBlocked } as const
  })
