/**
 * Copies usage from Redis to Postgres `usage_counters` rows, every `THREADLINE_USAGE_FLUSH_SECONDS` and once more at shutdown.
 * Every API instance may run it: rows only grow (GREATEST) and a counter is unmarked only if it did not change while
 * it was being written, so concurrent flushers and concurrent ingestion never lose a change. Each round also counts
 * expired reservations as used (UsageScripts.reclaim) and replays what was granted while Redis was unreachable.
 */
import { Clock, Effect, Layer, Schedule } from "effect"
import { type OrganizationId, RequestContext } from "../RequestContext.js"
import { LimitsConfig } from "./LimitsConfig.js"
import { LimitsRedis } from "./LimitsRedis.js"
import { Usage } from "./Usage.js"
import * as Scripts from "./UsageScripts.js"
import { type UsageRow, UsageSql } from "./UsageSql.js"

export interface FlushReport {
  readonly written: number
  readonly reclaimed: number
}

const CHUNK = 500

export class UsageFlush extends Effect.Service<UsageFlush>()("Limits/UsageFlush", {
  effect: Effect.gen(function* () {
    const usage = yield* Usage
    const redis = yield* LimitsRedis
    const store = yield* UsageSql

    const reclaim = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      redis.run(
        "usage.reclaim",
        (r) =>
          Scripts.runScript(r, Scripts.reclaim, [usage.keys.pending, usage.keys.dirty], [now, redis.prefix]) as Promise<
            Array<string>
          >
      )
    ).pipe(
      Effect.tap((expired) =>
        Effect.when(
          Effect.logWarning("limits: reservations expired without commit were counted as used", {
            reservations: expired.slice(0, 20)
          }),
          () => expired.length > 0
        )
      )
    )

    const writeChunk = (members: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const hashes = members.map((m) => {
          const [org, month] = m.split("|") as [OrganizationId, string]
          return { member: m, org, month, key: usage.hashKey(org, month) }
        })
        const values = yield* redis.run("usage.flush", async (r) => {
          const pipe = r.pipeline()
          for (const h of hashes) pipe.hmget(h.key, "ev", "by", "jobs")
          const replies = (await pipe.exec()) ?? []
          return replies.map(([error, value]) => {
            if (error !== null) throw error
            return (value as Array<string | null>).map((v) => v ?? "0")
          })
        })
        const rows: Array<UsageRow> = hashes.map((h, i) => {
          const [ev, by, jobs] = values[i]!
          return { organizationId: h.org, month: h.month, events: Number(ev), bytes: Number(by), jobs: Number(jobs) }
        })
        yield* store.write(rows)
        yield* Effect.forEach(
          hashes,
          (h, i) =>
            redis.run("usage.flush", (r) =>
              Scripts.runScript(r, Scripts.clean, [usage.keys.dirty, h.key], [h.member, ...values[i]!])
            ),
          { concurrency: 16, discard: true }
        )
        return rows.length
      })

    /** One round: reclaim, replay, then write every changed counter. */
    const flush = Effect.gen(function* () {
      const reclaimed = yield* reclaim
      yield* usage.replayBacklog
      const members = yield* redis.run("usage.flush", (r) => r.smembers(usage.keys.dirty))
      let written = 0
      for (let i = 0; i < members.length; i += CHUNK) written += yield* writeChunk(members.slice(i, i + CHUNK))
      return { written, reclaimed: reclaimed.length } satisfies FlushReport
    }).pipe(
      Effect.withSpan("Limits.flushUsage"),
      // a fresh system context (own request id) per round
      (round) => Effect.suspend(() => RequestContext.withContext(RequestContext.system("usage flush"))(round))
    )

    return { flush } as const
  }),
  dependencies: [Usage.Default, LimitsRedis.Default, UsageSql.Default]
}) {
  /** The periodic flush, with a last round when the layer closes. Failures are logged; the next round retries. */
  static readonly Loop: Layer.Layer<never, never, UsageFlush | LimitsConfig> = Layer.scopedDiscard(
    Effect.gen(function* () {
      const { flush } = yield* UsageFlush
      const config = yield* LimitsConfig
      const round = flush.pipe(
        Effect.catchAll((error) => Effect.logWarning("limits: usage flush failed; retrying next round", { error })),
        Effect.catchAllDefect((defect) => Effect.logError("limits: usage flush failed", { defect: String(defect) }))
      )
      yield* Effect.addFinalizer(() => round)
      yield* Effect.forkScoped(Effect.repeat(round, Schedule.spaced(config.flushInterval)))
    })
  )
}
