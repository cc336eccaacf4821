/**
 * Monthly usage per organization, metered at ingestion: Redis counters are the source of truth for enforcement
 * (UsageScripts.ts), copied to Postgres by UsageFlush.
 *
 * Ingestion reserves before writing and commits after: `reserve` grants the longest prefix of the batch that fits in
 * both the events and the bytes left this month (atomically, across processes), the caller writes exactly that
 * prefix, then `commit` turns the reservation into usage, or `release` returns it when the write failed. So
 * concurrent batches crossing the quota together are cut exactly at the quota, and usage counts only what was stored.
 *
 * Redis unreachable (README.md): the organization's Postgres row plus this process's not-yet-replayed usage stand in
 * for the Redis counters, and what is granted meanwhile is kept in a local backlog that UsageFlush adds to Redis
 * once it answers again.
 */
import { randomBytes } from "node:crypto"
import { Clock, Duration, Effect } from "effect"
import { type OrganizationId, RequestContext } from "../RequestContext.js"
import { LimitsConfig } from "./LimitsConfig.js"
import { LimitsRedis, type LimitsRedisDown } from "./LimitsRedis.js"
import { monthOf } from "./Month.js"
import * as Scripts from "./UsageScripts.js"
import { Backlog, grant, sum } from "./UsageBacklog.js"
import { type Counters, UsageSql } from "./UsageSql.js"

export interface Reservation {
  readonly organizationId: OrganizationId
  readonly month: string
  /** Entries granted: the first `events` entries of the batch. */
  readonly events: number
  readonly bytes: number
  /** The organization's usage this month including this reservation (and others in flight). */
  readonly usedEvents: number
  readonly usedBytes: number
  readonly member: string
  readonly local: boolean
}

/** A seeded hash outlives its month long enough for the last flush. */
const SEED_TTL_SECONDS = 62 * 86_400

export class Usage extends Effect.Service<Usage>()("Limits/Usage", {
  effect: Effect.gen(function* () {
    const redis = yield* LimitsRedis
    const store = yield* UsageSql
    const config = yield* LimitsConfig
    const backlog = new Backlog()
    const hashKey = (org: string, month: string) => `${redis.prefix}:usage:{${org}}:${month}`
    const keys = { pending: `${redis.prefix}:usage:pending`, dirty: `${redis.prefix}:usage:dirty` } as const

    const seedFromPostgres = (org: OrganizationId, month: string) =>
      Effect.flatMap(store.read(org, month), (c) =>
        redis.run("usage.seed", (r) =>
          Scripts.runScript(r, Scripts.seed, [hashKey(org, month)], [c.events, c.bytes, c.jobs, SEED_TTL_SECONDS])
        )
      )

    /** Runs a script that answers -1 (first element) while the month's hash is not seeded; seeds once and retries. */
    const seeded = <A>(
      org: OrganizationId,
      month: string,
      op: Effect.Effect<A, LimitsRedisDown>,
      unseeded: (a: A) => boolean
    ) =>
      Effect.flatMap(op, (a) => (unseeded(a) ? Effect.zipRight(seedFromPostgres(org, month), op) : Effect.succeed(a)))

    const reserveLocally = (
      org: OrganizationId,
      month: string,
      sizes: ReadonlyArray<number>,
      limit: Counters,
      all: boolean
    ) =>
      Effect.map(store.read(org, month), (stored): Reservation => {
        const used = sum(stored, backlog.get(org, month))
        const g = grant(sizes, limit.events - used.events, limit.bytes - used.bytes, all)
        backlog.add(org, month, { ...g, jobs: 0 })
        return {
          organizationId: org,
          month,
          ...g,
          usedEvents: used.events + g.events,
          usedBytes: used.bytes + g.bytes,
          member: "",
          local: true
        }
      })

    /** Reserves room for the longest prefix of a batch whose entry sizes are `sizes` (all or nothing if asked). */
    const reserve = (sizes: ReadonlyArray<number>, limit: Pick<Counters, "events" | "bytes">, allOrNothing = false) =>
      Effect.gen(function* () {
        // a malformed size would fail the script, and a script failure must not pass for Redis being down
        if (!sizes.every((s) => Number.isSafeInteger(s) && s >= 0)) {
          return yield* Effect.dieMessage("Usage.reserve: sizes must be non-negative integers")
        }
        const ctx = yield* RequestContext
        const org = ctx.organizationId
        const now = yield* Clock.currentTimeMillis
        const month = monthOf(now)
        const memberPrefix = `${org}|${month}|${randomBytes(8).toString("hex")}`
        const deadline = now + Duration.toMillis(config.reservationTtl)
        const run = redis.run(
          "usage.reserve",
          (r) =>
            Scripts.runScript(
              r,
              Scripts.reserve,
              [hashKey(org, month), keys.pending],
              [limit.events, limit.bytes, allOrNothing ? 1 : 0, deadline, memberPrefix, ...sizes]
            ) as Promise<[number, number, number, number]>
        )
        return yield* seeded(org, month, run, (r) => r[0] === -1).pipe(
          Effect.map(([events, bytes, usedEvents, usedBytes]): Reservation => ({
            organizationId: org,
            month,
            events,
            bytes,
            usedEvents,
            usedBytes,
            member: `${memberPrefix}|${events}|${bytes}`,
            local: false
          })),
          Effect.catchTag("LimitsRedisDown", () =>
            reserveLocally(org, month, sizes, { ...limit, jobs: 0 }, allOrNothing)
          )
        )
      })

    /** The write succeeded: the reservation becomes usage. If Redis fails now, the reclaim counts it later. */
    const commit = (r: Reservation): Effect.Effect<void> =>
      r.local || r.events === 0
        ? Effect.void
        : redis
            .run("usage.commit", (c) =>
              Scripts.runScript(
                c,
                Scripts.commit,
                [hashKey(r.organizationId, r.month), keys.pending, keys.dirty],
                [r.member, r.events, r.bytes, `${r.organizationId}|${r.month}`]
              )
            )
            .pipe(Effect.ignore)

    /** The write failed: the room goes back. If Redis fails now, the reclaim counts it (never under-counts). */
    const release = (r: Reservation): Effect.Effect<void> => {
      if (r.events === 0) return Effect.void
      if (r.local)
        return Effect.sync(() =>
          backlog.add(r.organizationId, r.month, { events: -r.events, bytes: -r.bytes, jobs: 0 })
        )
      return redis
        .run("usage.release", (c) =>
          Scripts.runScript(
            c,
            Scripts.release,
            [hashKey(r.organizationId, r.month), keys.pending],
            [r.member, r.events, r.bytes]
          )
        )
        .pipe(Effect.ignore)
    }

    const addTo = (org: OrganizationId, month: string, c: Counters) =>
      seeded(
        org,
        month,
        redis.run("usage.add", (r) =>
          Scripts.runScript(
            r,
            Scripts.add,
            [hashKey(org, month), keys.dirty],
            [c.events, c.bytes, c.jobs, `${org}|${month}`]
          )
        ),
        (a) => a === -1
      )

    /** Counts jobs enqueued by the current context's organization. */
    const addJobs = (n: number) =>
      Effect.gen(function* () {
        const org = (yield* RequestContext).organizationId
        const month = monthOf(yield* Clock.currentTimeMillis)
        yield* addTo(org, month, { events: 0, bytes: 0, jobs: n }).pipe(
          Effect.catchTag("LimitsRedisDown", () =>
            Effect.sync(() => backlog.add(org, month, { events: 0, bytes: 0, jobs: n }))
          )
        )
      })

    /** Committed usage of an organization this month (what was stored; reservations in flight are not included). */
    const current = (org: OrganizationId): Effect.Effect<Counters> =>
      Effect.gen(function* () {
        const month = monthOf(yield* Clock.currentTimeMillis)
        const local = backlog.get(org, month)
        const fromRedis = yield* redis
          .run("usage.read", (r) => r.hmget(hashKey(org, month), "seeded", "ev", "by", "jobs"))
          .pipe(Effect.option)
        if (fromRedis._tag === "Some" && fromRedis.value[0] !== null) {
          const [, ev, by, jobs] = fromRedis.value
          return sum(local, { events: Number(ev ?? 0), bytes: Number(by ?? 0), jobs: Number(jobs ?? 0) })
        }
        return sum(local, yield* store.read(org, month))
      })

    /** Adds what was granted while Redis was unreachable to Redis; entries that still fail stay for the next round. */
    const replayBacklog = Effect.flatMap(
      Effect.sync(() => backlog.drain()),
      Effect.forEach(
        (e) =>
          addTo(e.organizationId, e.month, e).pipe(
            Effect.catchTag("LimitsRedisDown", () => Effect.sync(() => backlog.add(e.organizationId, e.month, e)))
          ),
        { discard: true }
      )
    )

    return {
      reserve,
      commit,
      release,
      addJobs,
      current,
      replayBacklog,
      backlogSize: Effect.sync(() => backlog.size),
      keys,
      hashKey
    } as const
  }),
  dependencies: [LimitsConfig.Default, LimitsRedis.Default, UsageSql.Default]
}) {}
