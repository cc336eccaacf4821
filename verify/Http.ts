/**
 * The suite's HTTP client: every call records what was sent and answered, so the correlation pass can check each
 * request against the response, the logs, the statements, the audit rows, the jobs and the webhooks.
 */
import { randomBytes } from "node:crypto"

export interface Sent {
  readonly id: string
  /** The organization the request acts for (undefined: none, e.g. register/login). */
  orgId: string | undefined
  readonly kind: string
  readonly method: string
  readonly path: string
  status: number
  responseId: string | null
  body: unknown
  durationMs: number
  error?: string
}

export interface CallOptions {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly json?: unknown
  readonly raw?: Uint8Array | string
  readonly orgId?: string | undefined
  readonly kind: string
  /** The client-side request id; a fresh random one by default. */
  readonly id?: string
  readonly timeoutMs?: number
}

export const requestId = (): string => `vrf-${randomBytes(10).toString("hex")}`

export class Client {
  readonly sent: Array<Sent> = []
  constructor(readonly base: string) {}

  async call(path: string, options: CallOptions): Promise<Sent> {
    const id = options.id ?? requestId()
    const method = options.method ?? (options.json === undefined && options.raw === undefined ? "GET" : "POST")
    const headers: Record<string, string> = { "x-request-id": id, ...options.headers }
    let body: string | Uint8Array | undefined
    if (options.json !== undefined) {
      headers["content-type"] ??= "application/json"
      body = JSON.stringify(options.json)
    } else if (options.raw !== undefined) body = options.raw
    const record: Sent = {
      id,
      orgId: options.orgId,
      kind: options.kind,
      method,
      path,
      status: 0,
      responseId: null,
      body: undefined,
      durationMs: 0
    }
    this.sent.push(record)
    const started = performance.now()
    try {
      const res = await fetch(this.base + path, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000)
      })
      record.status = res.status
      record.responseId = res.headers.get("x-request-id")
      const text = await res.text()
      try {
        record.body = text === "" ? undefined : JSON.parse(text)
      } catch {
        record.body = text
      }
    } catch (e) {
      const cause = e instanceof Error ? (e.cause as { code?: string; message?: string } | undefined) : undefined
      record.error =
        e instanceof Error
          ? `${e.name}: ${e.message}${cause === undefined ? "" : ` (${cause.code ?? cause.message ?? ""})`}`
          : String(e)
    }
    record.durationMs = performance.now() - started
    return record
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Runs `tasks` with at most `concurrency` in flight. */
export const pool = async <T>(items: ReadonlyArray<T>, concurrency: number, task: (item: T) => Promise<void>) => {
  let next = 0
  const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T
      await task(item)
    }
  })
  await Promise.all(runners)
}

export const field = (value: unknown, ...path: ReadonlyArray<string>): unknown => {
  let v = value
  for (const p of path) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[p] : undefined
  return v
}

export const str = (value: unknown, ...path: ReadonlyArray<string>): string => {
  const v = field(value, ...path)
  if (typeof v !== "string") throw new Error(`expected a string at ${path.join(".")}: ${JSON.stringify(value)}`)
  return v
}
