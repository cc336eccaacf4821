import { afterAll, expect, layer } from "@effect/vitest"
import { Effect, Layer, Schedule, Schema } from "effect"
import { EnqueueObserverLive } from "../../src/Limits/JobAttribution.js"
import { Usage } from "../../src/Limits/Usage.js"
import { UsageFlush } from "../../src/Limits/UsageFlush.js"
import * as Consumer from "../../src/Queue/Consumer.js"
import { Envelope } from "../../src/Queue/Envelope.js"
import * as Job from "../../src/Queue/Job.js"
import { Producer } from "../../src/Queue/Producer.js"
import { QueueRedis } from "../../src/Queue/Redis.js"
import { type OrganizationId, RequestContext } from "../../src/RequestContext.js"
import {
  appConfig,
  cleanup,
  configProvider,
  databaseLayer,
  keyContext,
  LimitsServicesLive,
  organizations,
  ownerSql,
  redisUrl,
  uniquePrefix,
  userContext
} from "./Support.js"

const prefix = uniquePrefix("jobs")
const env = { REDIS_URL: redisUrl(), THREADLINE_LIMITS_PREFIX: prefix, THREADLINE_QUEUE_PREFIX: `${prefix}-q` }
const suffix = prefix.slice(-6)
const Work = Job.define({ name: `limits-work-${suffix}`, payload: Schema.Struct({ n: Schema.Int }) })
const FollowUp = Job.define({ name: `limits-follow-${suffix}`, payload: Schema.Struct({ n: Schema.Int }) })

/** A consumer that enqueues one follow-up job per job, under the job's own context (origin `job`). */
const FollowUps = Consumer.layer(Work, ({ n }) =>
  Effect.flatMap(Producer, (producer) => producer.enqueue(FollowUp, { n }))
)

const Live = FollowUps.pipe(
  // the observer the roles get from LimitsLive: every enqueue through the plain Producer is counted
  Layer.provideMerge(EnqueueObserverLive),
  Layer.provideMerge(LimitsServicesLive),
  Layer.provideMerge(Layer.mergeAll(Producer.Default, QueueRedis.Default, Envelope.Default)),
  Layer.provideMerge(databaseLayer("jobs")),
  Layer.provideMerge(appConfig(env)),
  Layer.provide(configProvider(env))
)
afterAll(async () => {
  await cleanup(prefix)
  await cleanup(`${prefix}-q`)
})

const org = (name: string) => `org_${name}${suffix}` as OrganizationId

layer(Live, { timeout: 60_000, excludeTestServices: true })("job enqueue attribution", (it) => {
  it.effect("jobs enqueued by an organization count against that organization, also when a job enqueues more", () =>
    Effect.gen(function* () {
      const a = org("a")
      const b = org("b")
      const producer = yield* Producer
      const usage = yield* Usage
      yield* organizations(a, b)
      yield* Effect.forEach(
        Array.from({ length: 4 }, (_, n) => n),
        (n) => producer.enqueue(Work, { n }).pipe(RequestContext.withContext(keyContext(a, "key_a")))
      )
      yield* producer
        .enqueueBulk(FollowUp, [{ n: 1 }, { n: 2 }, { n: 3 }])
        .pipe(RequestContext.withContext(userContext(b, "usr_b")))
      // the 4 Work jobs of A each enqueue a FollowUp under their own `_ctx` (org A, origin job)
      yield* Effect.flatMap(usage.current(a), (c) => (c.jobs === 8 ? Effect.void : Effect.fail(c))).pipe(
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds")))
      )
      expect(yield* usage.current(a)).toEqual({ events: 0, bytes: 0, jobs: 8 })
      expect(yield* usage.current(b)).toEqual({ events: 0, bytes: 0, jobs: 3 })
      yield* (yield* UsageFlush).flush
      const sql = yield* ownerSql
      const rows = yield* sql<{ organization_id: string; jobs: string }>`
        SELECT organization_id, jobs FROM usage_counters ORDER BY organization_id`
      expect(rows.map((r) => [r.organization_id, Number(r.jobs)])).toEqual([
        [a, 8],
        [b, 3]
      ])
    })
  )
})
