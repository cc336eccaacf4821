/**
 * One JSON line per request, in the pino shape of src/Logging.ts: `method`, `route` (the matched template, e.g.
 * `/api/v1/orgs/:org`, never the raw URL, whose query could hold a secret), `status`, `durationMs`, `requestId`,
 * `organizationId`, `projectId`, `actor` (`user:usr_…` / `apiKey:key_…`). It never contains a credential or a
 * header as sent: the request id is the one RequestId.ts accepted or minted.
 *
 * Written by the server wiring after the response, outside any fiber: building a string is all a request pays.
 * The default sink writes the lines of 50 ms at once to `stdout`.
 */
import { hostname } from "node:os"
import type { RequestContextData } from "../RequestContext.js"

export interface AccessLogSink {
  readonly write: (line: string) => void
  readonly flush: () => void
}

export interface AccessLogEntry {
  readonly method: string
  readonly route: string | undefined
  readonly status: number
  readonly durationMs: number
  readonly requestId: string
  readonly context: RequestContextData | undefined
}

const host = hostname()
const prefix = `{"level":30,"pid":${process.pid},"hostname":${JSON.stringify(host)},"msg":"request","time":`

const actorOf = (ctx: RequestContextData): string | null => {
  switch (ctx.actor._tag) {
    case "user":
      return `user:${ctx.actor.userId}`
    case "apiKey":
      return `apiKey:${ctx.actor.apiKeyId}`
    case "system":
      return "system"
  }
}

const SAFE = /^[A-Za-z0-9._:/{}*-]*$/
/** A JSON string literal; the values logged are ids and templates that need no escaping, checked cheaply. */
const str = (value: string): string => (SAFE.test(value) ? `"${value}"` : JSON.stringify(value))

/** The line, without the trailing newline. Every value is either ours or validated (ids, route templates). */
export const format = (entry: AccessLogEntry, now: number): string => {
  const ctx = entry.context
  const actor = ctx === undefined ? null : actorOf(ctx)
  return `${prefix}${now},"method":${str(entry.method)},"route":${entry.route === undefined ? "null" : str(entry.route)},"status":${entry.status},"durationMs":${Math.round(entry.durationMs * 100) / 100},"requestId":${str(entry.requestId)},"organizationId":${ctx === undefined ? "null" : str(ctx.organizationId)},"projectId":${ctx === undefined || ctx.projectId === null ? "null" : str(ctx.projectId)},"actor":${actor === null ? "null" : str(actor)}}`
}

/**
 * Lines are collected and written together every `intervalMs` (or once 64 KiB are pending): one write per batch
 * instead of one per request, which measured as a sixth of the CPU of serving `/health` (docs/performance.md).
 * `flush` writes what is pending at once (shutdown, tests).
 */
export const batchedSink = (out: { write: (chunk: string) => unknown }, intervalMs = 50): AccessLogSink => {
  let pending: Array<string> = []
  let size = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (pending.length === 0) return
    const chunk = pending.join("\n") + "\n"
    pending = []
    size = 0
    out.write(chunk)
  }
  return {
    write: (line) => {
      pending.push(line)
      size += line.length
      if (size >= 65_536) flush()
      else if (timer === undefined) timer = setTimeout(flush, intervalMs)
    },
    flush
  }
}

export const stdoutSink = (): AccessLogSink => batchedSink(process.stdout)

/** Keeps the lines in memory; for tests that compare them with responses. */
export const memorySink = (): AccessLogSink & { readonly lines: Array<Record<string, unknown>> } => {
  const lines: Array<Record<string, unknown>> = []
  return { lines, write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>), flush: () => {} }
}
