/**
 * Retention through the named bypass on the migrated schema: expired rows go, fresh ones stay, the result arrives
 * with camelCase names and numbers, an audit row names the bypass, and a tenant's context is refused.
 */
import { expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { Retention, RETENTION_BYPASS_REASON } from "../../src/Logs/Retention.js"
import { RequestContext } from "../../src/RequestContext.js"
import { asOwner } from "../support/Database.js"
import { keyContext, seededDatabase } from "./Fixtures.js"

const Db = seededDatabase("logs-retention")

layer(Retention.Default.pipe(Layer.provideMerge(Db)), { timeout: 60_000 })("Logs retention", (it) => {
  it.effect("deletes what is past the organization's retention, under a system context only", () =>
    Effect.gen(function* () {
      yield* asOwner((c) =>
        c.query(`
          UPDATE organizations SET retention_days = 7 WHERE id = 'org_a';
          INSERT INTO logs (time, organization_id, project_id, service, level, message) VALUES
            (now() - interval '10 days', 'org_a', 'prj_a', 's', 'info', 'expired a'),
            (now() - interval '10 days', 'org_b', 'prj_b', 's', 'info', 'kept b (30 days)'),
            (now() - interval '1 day', 'org_a', 'prj_a', 's', 'info', 'fresh a');
        `)
      )
      const retention = yield* Retention
      const denied = yield* Effect.exit(retention.run().pipe(RequestContext.withContext(keyContext("a"))))
      expect(Exit.isFailure(denied) && Cause.isDie(denied.cause)).toBe(true)
      const result = yield* retention.run().pipe(RequestContext.withContext(RequestContext.system("test retention")))
      expect(typeof result.deletedRows).toBe("number")
      expect(result.deletedRows).toBe(1)
      expect(typeof result.createdPartitions).toBe("number")
      expect(typeof result.droppedPartitions).toBe("number")
      const left = yield* asOwner((c) => c.query<{ message: string }>("SELECT message FROM logs ORDER BY message"))
      expect(left.rows.map((r) => r.message)).toEqual(["fresh a", "kept b (30 days)"])
      const audit = yield* asOwner((c) =>
        c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM audit_log WHERE action = 'tenant.bypass' AND target_id = $1",
          [RETENTION_BYPASS_REASON]
        )
      )
      expect(audit.rows[0]?.n).toBe(1)
    })
  )
})
