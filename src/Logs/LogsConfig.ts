/**
 * Settings of the logs area, read once from the environment. Kept apart from src/Config.ts so the area owns its
 * limits; the defaults are the ones the HTTP contract promises (API.md).
 */
import { Config, Effect } from "effect"
import { logIdKey } from "./LogId.js"

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

export class LogsConfig extends Effect.Service<LogsConfig>()("Logs/LogsConfig", {
  effect: Effect.gen(function* () {
    const maxBodyBytes = yield* positive("THREADLINE_INGEST_MAX_BYTES", 10 * 1024 * 1024)
    // the read pool's size as src/Config.ts reads it (same variable, same default), without needing AppConfig
    const readPool = yield* positive("DATABASE_READ_POOL_SIZE", 5)
    const processConcurrency = Math.min(
      yield* positive("THREADLINE_QUERY_PROCESS_CONCURRENCY", Math.max(1, readPool - 1)),
      Math.max(1, readPool - 1)
    )
    return {
      /** Entries in one ingest request. */
      maxEntries: yield* positive("THREADLINE_INGEST_MAX_ENTRIES", 10_000),
      /** Bytes of one ingest request body, after gzip decompression. */
      maxBodyBytes,
      /**
       * What one request may expand to once decoded (src/Logs/Body.ts `decodedSize`), shared OTLP resources and
       * scopes counted once per record; over it the request is refused whole (413) before any per-entry work.
       */
      maxExpandedBytes: yield* positive("THREADLINE_INGEST_MAX_EXPANDED_BYTES", 4 * maxBodyBytes),
      /** UTF-8 bytes of one message. */
      maxMessageBytes: yield* positive("THREADLINE_LOG_MESSAGE_MAX_BYTES", 64 * 1024),
      /** UTF-8 bytes of one entry's metadata, serialised as stored (OTLP: with its resource and scope). */
      maxMetadataBytes: yield* positive("THREADLINE_LOG_METADATA_MAX_BYTES", 64 * 1024),
      /** Nesting of one entry's metadata: the object itself is level 1. */
      maxMetadataDepth: yield* positive("THREADLINE_LOG_METADATA_MAX_DEPTH", 20),
      /** Rows a search may return per page. */
      maxQueryLimit: yield* positive("THREADLINE_QUERY_MAX_LIMIT", 1000),
      defaultQueryLimit: yield* positive("THREADLINE_QUERY_DEFAULT_LIMIT", 100),
      /** Bytes of one search page (entries as sent, approximately); the page ends early with `hasMore`. */
      maxPageBytes: yield* positive("THREADLINE_QUERY_MAX_PAGE_BYTES", 8 * 1024 * 1024),
      /**
       * Searches and stats of one organization running at once in this process; more wait, then 429. At most half
       * the process's searches, so two organizations never take them all.
       */
      orgConcurrency: Math.min(
        yield* positive("THREADLINE_QUERY_ORG_CONCURRENCY", 4),
        Math.max(1, Math.floor(processConcurrency / 2))
      ),
      /**
       * Searches and stats of all organizations running at once in this process; more wait, then 429. Below the
       * read pool's size, so a search never waits in the pool's own queue and one connection stays for the rest
       * (project lookups).
       */
      processConcurrency,
      /** How long a search waits for its slots (its organization's, then the process's) before the 429. */
      queueWaitMs: yield* positive("THREADLINE_QUERY_QUEUE_WAIT_MS", 1000),
      /** Statement timeout of the search and stats statements (shorter than the request's); then 503 QueryTimeout. */
      queryTimeoutMs: yield* positive("THREADLINE_QUERY_TIMEOUT_MS", 10_000),
      /** Offset mode counts matching rows exactly up to this many; beyond, `total` is a lower bound. */
      countLimit: yield* positive("THREADLINE_QUERY_COUNT_LIMIT", 10_000),
      /** The key log ids are enciphered with, derived from THREADLINE_SECRET_KEY (the key of src/Config.ts). */
      idKey: logIdKey(yield* Config.option(Config.redacted("THREADLINE_SECRET_KEY")))
    } as const
  })
}) {}
