/**
 * Time buckets of the stats query: the bucket width (chosen so a range has at most MAX_BUCKETS buckets, on a
 * human scale) and the zero-filled series the chart needs.
 */
import { Either } from "effect"
import { LEVELS, type Level } from "./Entry.js"
import type { StatsReply } from "./QueryTypes.js"

const MAX_BUCKETS = 1000
/** The widest bucket asked for: a year (beyond, Postgres intervals overflow long before `1e300` seconds). */
export const MAX_INTERVAL_SECONDS = 366 * 86_400
const NICE = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400] as const
const TARGET_BUCKETS = 60

export interface StatsRow {
  /** Bucket start, epoch seconds. */
  readonly bucket: number
  readonly level: Level
  readonly count: number
}

/**
 * The requested width, or one giving about 60 buckets; refused (the reason, for the `interval` parameter) when it
 * is not a whole number of seconds up to MAX_INTERVAL_SECONDS or would make more than MAX_BUCKETS buckets.
 */
export const bucketSeconds = (from: Date, to: Date, requested: number | undefined): Either.Either<number, string> => {
  const span = Math.max(1, (to.getTime() - from.getTime()) / 1000)
  const seconds = requested ?? NICE.find((s) => span / s <= TARGET_BUCKETS) ?? 7 * 86_400
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_INTERVAL_SECONDS) {
    return Either.left(`must be a whole number of seconds from 1 to ${MAX_INTERVAL_SECONDS}`)
  }
  if (span / seconds > MAX_BUCKETS) {
    return Either.left(`the range would have more than ${MAX_BUCKETS} buckets; widen the interval or narrow the range`)
  }
  return Either.right(seconds)
}

/** Every bucket from the one holding `from` to the one holding `to`, with zero counts where no row fell. */
export const fillBuckets = (
  rows: ReadonlyArray<StatsRow>,
  from: Date,
  to: Date,
  seconds: number
): StatsReply["buckets"] => {
  const byBucket = new Map<number, Record<Level, number>>()
  const first = Math.floor(from.getTime() / 1000 / seconds) * seconds
  const last = Math.floor((to.getTime() - 1) / 1000 / seconds) * seconds
  const empty = (): Record<Level, number> => ({ debug: 0, info: 0, warn: 0, error: 0, critical: 0 })
  for (let t = first; t <= last; t += seconds) byBucket.set(t, empty())
  for (const r of rows) {
    const counts = byBucket.get(r.bucket) ?? empty()
    counts[r.level] += r.count
    byBucket.set(r.bucket, counts)
  }
  return [...byBucket.entries()]
    .sort(([a], [b]) => a - b)
    .map(([t, levels]) => ({
      time: new Date(t * 1000).toISOString(),
      total: LEVELS.reduce((n, l) => n + levels[l], 0),
      levels
    }))
}
