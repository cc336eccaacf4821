/**
 * The ingestion and search entry points need a unit of work: running them without a RequestContext is a type error.
 * Checked by `tsc -p test/types`; an unused @ts-expect-error fails the check.
 */
import { Effect } from "effect"
import type { Ingest } from "../../src/Logs/Ingest.js"
import type { LogsQuery } from "../../src/Logs/Query.js"
import type { QuotaShape } from "../../src/Logs/Quota.js"
import type { Retention } from "../../src/Logs/Retention.js"
import { RequestContext } from "../../src/RequestContext.js"

declare const ingest: Ingest
declare const query: LogsQuery
declare const quota: QuotaShape
declare const retention: Retention

// @ts-expect-error ingesting without a RequestContext
void Effect.runPromise(ingest.ingest([]))
// @ts-expect-error writing validated entries without a RequestContext
void Effect.runPromise(ingest.write([]))
// @ts-expect-error searching without a RequestContext
void Effect.runPromise(query.search({}))
// @ts-expect-error stats without a RequestContext
void Effect.runPromise(query.stats({}))
// @ts-expect-error a trace without a RequestContext
void Effect.runPromise(query.trace("t", {}))
// @ts-expect-error the quota hook without a RequestContext
void Effect.runPromise(quota.ingest([1], () => Effect.void))
// @ts-expect-error retention without a (system) RequestContext
void Effect.runPromise(retention.run())
// @ts-expect-error the ingest effect does not claim to need nothing
export const noContext: Effect.Effect<unknown, unknown, never> = ingest.ingest([])

// With the context provided, the same calls compile: the errors above are about the context only.
const ctx = RequestContext.system("types")
void Effect.runPromise(ingest.ingest([]).pipe(Effect.either, RequestContext.withContext(ctx)))
void Effect.runPromise(query.search({}).pipe(Effect.either, RequestContext.withContext(ctx)))
void Effect.runPromise(quota.checkQuery.pipe(Effect.either, RequestContext.withContext(ctx)))
// Retention provides its own client: only the context remains to be given.
void Effect.runPromise(retention.run().pipe(Effect.either, RequestContext.withContext(ctx)))
