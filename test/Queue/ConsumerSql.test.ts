/**
 * A job's SQL carries the request id of the unit of work that enqueued it: the consumer provides the decoded context,
 * and the storage client's comment transformer reads it, with nothing passed by hand.
 */
import { SqlClient } from "@effect/sql"
import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import * as Consumer from "../../src/Queue/Consumer.js"
import * as Job from "../../src/Queue/Job.js"
import { Producer } from "../../src/Queue/Producer.js"
import { RequestContext } from "../../src/RequestContext.js"
import { encodeValue } from "../../src/Sql/Comment.js"
import { TestDatabase } from "../support/Database.js"
import { cleanup, contextFor, eventually, jobName, type Line, queueLayer, uniquePrefix } from "./Support.js"

const prefix = uniquePrefix("consumer-sql")
const lines: Array<Line> = []
afterAll(() => cleanup(prefix))

const Payload = Schema.Struct({ n: Schema.Int })

describe("Queue consumer and SQL", () => {
  layer(Layer.merge(queueLayer(prefix, lines), TestDatabase.layer("queue-sql")), {
    timeout: "90 seconds",
    excludeTestServices: true
  })((it) => {
    it.effect(
      "the statements a job sends end with the original request id's comment, on every attempt",
      () =>
        Effect.gen(function* () {
          const job = Job.define({
            name: jobName("sql"),
            payload: Payload,
            attempts: 3,
            backoff: { type: "fixed", delay: 10 }
          })
          const seen = yield* Ref.make<ReadonlyArray<{ n: number; attempt: number; query: string }>>([])
          yield* Consumer.make(job, (payload, meta) =>
            Effect.gen(function* () {
              const sql = yield* SqlClient.SqlClient
              const rows = yield* sql<{ query: string }>`SELECT current_query() AS query`.pipe(Effect.orDie)
              yield* Ref.update(seen, (s) => [...s, { n: payload.n, attempt: meta.attempt, query: rows[0]!.query }])
              if (payload.n === 0 && meta.attempt < 3) return yield* Effect.fail(new Error("try again"))
            })
          )
          const contexts = [contextFor(1), contextFor(2)]
          const producer = yield* Producer
          yield* Effect.forEach(contexts, (ctx, n) =>
            producer.enqueue(job, { n }).pipe(RequestContext.withContext(ctx))
          )
          yield* eventually(
            Effect.map(Ref.get(seen), (s) => s.length === 4),
            "60 seconds"
          )
          const runs = yield* Ref.get(seen)
          for (const run of runs) {
            const ctx = contexts[run.n]!
            expect(run.query).toMatch(new RegExp(`request_id='${encodeValue(ctx.requestId)}'.*\\*/$`))
            expect(run.query).toContain(`organization_id='${encodeValue(ctx.organizationId)}'`)
            const other = contexts[1 - run.n]!
            expect(run.query).not.toContain(encodeValue(other.requestId))
          }
          expect(runs.filter((r) => r.n === 0).map((r) => r.attempt)).toEqual([1, 2, 3])
        }).pipe(Effect.scoped),
      150_000
    )
  })
})
