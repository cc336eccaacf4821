/**
 * The BullMQ jobs left in Redis (completed and failed jobs are kept, bounded, by src/Queue/Job.ts): every hash with
 * a `data` field under the queue prefix is a job; its `_ctx` envelope says under which request and tenant it ran.
 */
import { Redis } from "ioredis"

export interface StoredJob {
  readonly key: string
  readonly queue: string
  readonly data: Record<string, unknown>
  readonly ctx: Record<string, unknown> | undefined
  readonly raw: string
}

/**
 * Completed jobs are trimmed (src/Queue/Job.ts keeps the last 1,000 per queue), so a long soak would lose the
 * evidence of early jobs: the watcher reads new job keys every few seconds and keeps what it saw.
 */
export class JobWatcher {
  private readonly seen = new Map<string, StoredJob>()
  private timer: ReturnType<typeof setInterval> | undefined
  private running: Promise<void> = Promise.resolve()
  constructor(
    private readonly url: string,
    private readonly intervalMs = 3000
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.poll()).catch(() => undefined)
    }, this.intervalMs)
  }

  private async poll(): Promise<void> {
    for (const job of await readJobs(this.url, "threadline", this.seen)) this.seen.set(job.key, job)
  }

  /** Stops polling and returns every job seen, after one last read. */
  async stop(): Promise<Array<StoredJob>> {
    if (this.timer !== undefined) clearInterval(this.timer)
    await this.running
    await this.poll()
    return [...this.seen.values()]
  }
}

export const readJobs = async (
  url: string,
  prefix = "threadline",
  known: ReadonlyMap<string, StoredJob> = new Map()
): Promise<Array<StoredJob>> => {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 })
  try {
    const jobs: Array<StoredJob> = []
    let cursor = "0"
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000)
      cursor = next
      for (const key of keys) {
        if (known.has(key) || (await redis.type(key)) !== "hash") continue
        const raw = await redis.hget(key, "data")
        if (raw === null) continue
        const data = JSON.parse(raw) as Record<string, unknown>
        const ctx = data._ctx
        jobs.push({
          key,
          queue: key.split(":")[1] ?? "",
          data,
          ctx: ctx !== null && typeof ctx === "object" ? (ctx as Record<string, unknown>) : undefined,
          raw
        })
      }
    } while (cursor !== "0")
    return jobs
  } finally {
    redis.disconnect()
  }
}
