import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Either, Layer, Redacted } from "effect"
import { alertsTickSchedule } from "../../src/Alerts/AlertJobs.js"
import { Rules } from "../../src/Alerts/Rules.js"
import { verify } from "../../src/Alerts/Signature.js"
import { fromBody } from "../../src/Alerts/WebhookPayload.js"
import { Traceparent } from "../../src/RequestContext.js"
import * as Scheduler from "../../src/Queue/Scheduler.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { SqlClient } from "@effect/sql"
import { RequestContext } from "../../src/RequestContext.js"
import { encodeValue } from "../../src/Sql/Comment.js"
import { asOwner } from "../support/Database.js"
import { cleanup, eventually, type Line, uniquePrefix } from "../Queue/Support.js"
import { alertsLayer, holdTableLock, receiver, seedTenant, startWorkers } from "./Support.js"

const prefix = uniquePrefix("alerts-e2e")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const SECRET = "whsec_end_to_end_secret_0123456789"

describe("Alerts end to end", () => {
  layer(alertsLayer("alerts-e2e", prefix, lines), { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect(
      "error logs → tick → evaluation → signed webhook carrying the evaluation's request id; ticks dedupe",
      () =>
        Effect.gen(function* () {
          const hook = yield* receiver
          const t = yield* seedTenant("e2e")
          const { rule } = yield* (yield* Rules)
            .create({
              name: "errors in checkout",
              projectId: t.project,
              service: "checkout",
              level: ["error"],
              query: "payment failed",
              threshold: 3,
              windowMinutes: 5,
              webhookUrl: `${hook.base}/e2e`,
              webhookSecret: SECRET
            })
            .pipe(RequestContext.withContext(t.userCtx))

          // 4 matching logs and 3 that miss on level, service or text: the count must be 4
          const sql = yield* SqlClient.SqlClient
          yield* Tenant.transaction(
            sql`INSERT INTO logs (time, organization_id, project_id, service, level, message)
            SELECT now() - (g || ' seconds')::interval, ${t.org}, ${t.project}, s, l, m
            FROM generate_series(1, 7) g,
              LATERAL (VALUES
                (CASE WHEN g = 5 THEN 'search' ELSE 'checkout' END,
                 CASE WHEN g = 6 THEN 'info' ELSE 'error' END,
                 CASE WHEN g = 7 THEN 'all good' ELSE 'payment failed for order ' || g END)) v(s, l, m)`
          ).pipe(RequestContext.withContext(t.keyCtx))

          // The SQL comment must be proven on the text Postgres received, not on what a client-side hook saw.
          // The dev/CI server logs to stderr (no logging_collector, so no log file a test can read, and
          // log_statement cannot be scoped to one test), and pg_stat_statements is not preloaded (it would also
          // keep only the first text per normalised query). So: hold an ACCESS EXCLUSIVE lock on `logs` from an
          // owner connection; the evaluation's count then waits on it, and its backend's pg_stat_activity row
          // (Postgres's own copy of the statement text) is read from that other session before letting it go.
          const lock = yield* holdTableLock("logs")
          yield* startWorkers
          yield* Layer.build(Scheduler.layer([alertsTickSchedule(0.3)]))
          const blocked = yield* lock.waitForBlocked("FROM logs")
          yield* lock.release
          yield* eventually(Effect.sync(() => hook.received.length >= 1))
          // let several more ticks run inside the same window
          const ticks = () => lines.filter((l) => l.msg === "alert tick").length
          const seen = ticks()
          yield* eventually(Effect.sync(() => ticks() >= seen + 3))
          yield* Scheduler.remove("alerts.tick", "alerts.tick")

          expect(hook.received).toHaveLength(1)
          const got = hook.received[0]!
          const signed = verify({
            secret: Redacted.make(SECRET),
            body: got.body,
            signatureHeader: got.headers["x-threadline-signature"] as string,
            timestampHeader: got.headers["x-threadline-timestamp"] as string
          })
          expect(Either.isRight(signed)).toBe(true)
          const payload = fromBody(got.body)
          if (Either.isLeft(payload)) throw new Error("body does not decode")
          expect(payload.right.data).toMatchObject({ ruleId: rule.id, count: 4, threshold: 3, windowMinutes: 5 })
          expect(payload.right.organizationId).toBe(t.org)
          expect(payload.right.projectId).toBe(t.project)
          expect(Traceparent.isValid(got.headers.traceparent as string)).toBe(true)

          const requestId = got.headers["x-request-id"]
          const evaluated = lines.filter((l) => l.msg === "alert triggered")
          expect(evaluated).toHaveLength(1)
          expect(evaluated[0]!.job).toBe("alerts.evaluate")
          expect(evaluated[0]!.requestId).toBe(requestId)
          expect(evaluated[0]!.organizationId).toBe(t.org)
          // the evaluation query as Postgres received it: the count over logs, ending with the job's comment
          expect(blocked).toHaveLength(1)
          expect(blocked[0]).toMatch(/^SELECT count\(\*\)::int AS n FROM logs\s/)
          expect(blocked[0]).toMatch(new RegExp(`request_id='${encodeValue(requestId as string)}'[^/]*\\*/$`))
          expect(blocked[0]).toContain(`organization_id='${encodeValue(t.org)}'`)
          expect(blocked[0]).toContain(`project_id='${encodeValue(t.project)}'`)

          const rows = yield* asOwner((c) =>
            c.query<{ kind: string; id: string; request_id: string; status: string | null }>(
              `SELECT 'event' AS kind, id, request_id, NULL AS status FROM alert_events
             UNION ALL SELECT 'delivery', id, request_id, status FROM webhook_deliveries
             UNION ALL SELECT 'attempt', delivery_id, request_id, status_code::text FROM webhook_attempts ORDER BY 1`
            )
          )
          expect(rows.rows.map((r) => r.kind)).toEqual(["attempt", "delivery", "event"])
          for (const r of rows.rows) expect(r.request_id).toBe(requestId)
          expect(rows.rows.find((r) => r.kind === "event")!.id).toBe(payload.right.id)
          expect(rows.rows.find((r) => r.kind === "delivery")!.status).toBe("delivered")
          expect(rows.rows.find((r) => r.kind === "attempt")!.status).toBe("200")
          // the tick crossed tenants only through the audited bypass
          const bypass = yield* asOwner((c) =>
            c.query(`SELECT 1 FROM audit_log WHERE action = 'tenant.bypass' AND target_id = 'alerts-tick'`)
          )
          expect(bypass.rowCount).toBeGreaterThanOrEqual(4)
        }).pipe(Effect.scoped)
    )
  })
})
