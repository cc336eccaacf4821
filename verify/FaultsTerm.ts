/**
 * SIGTERM of the API under load: requests in flight complete, what they acknowledged is stored, the process exits 0.
 */
import { randomBytes } from "node:crypto"
import { request as httpRequest } from "node:http"
import { readJsonLines } from "./Children.js"
import { type FaultResult, ingest, storedWith, writeKey } from "./Faults.js"
import { type Client, sleep } from "./Http.js"
import type { Tenant } from "./Seed.js"
import type { Stack } from "./Stack.js"

/** A POST whose body is sent in two halves, the second `gapMs` after the first: a request the server has started. */
const slowPost = (base: string, path: string, headers: Record<string, string>, body: string, gap: Promise<void>) =>
  new Promise<{ status: number; body: string; error?: string }>((resolve) => {
    const url = new URL(path, base)
    const data = Buffer.from(body)
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { ...headers, "content-length": String(data.length) }
      },
      (res) => {
        let text = ""
        res.on("data", (c: Buffer) => (text += c.toString()))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
      }
    )
    req.on("error", (e) => resolve({ status: 0, body: "", error: e.message }))
    req.write(data.subarray(0, data.length >> 1))
    void gap.then(() => req.end(data.subarray(data.length >> 1)))
  })

/**
 * SIGTERM under load. Two kinds of requests are in flight when the signal arrives: ingestion batches sent a second
 * before it, and requests whose headers and half of whose body were sent 1.5 s before it (the server has started
 * them for sure; the rest of the body follows after the signal). Every started request must complete with 200 and
 * its entries must be stored; a batch the server never started (no access log line) may be refused at connect.
 */
export const apiTerm = async (stack: Stack, client: Client, t: Tenant, restart: boolean): Promise<FaultResult> => {
  const violations: Array<string> = []
  const marker = `term-${randomBytes(4).toString("hex")}`
  let release = () => {}
  const gap = new Promise<void>((r) => (release = r))
  const slowBody = (i: number) =>
    JSON.stringify({
      logs: Array.from({ length: 200 }, (_, j) => ({
        service: "term",
        level: "info",
        message: `${marker} slow ${i} ${j}`
      }))
    })
  const slow = Array.from({ length: 8 }, (_, i) =>
    slowPost(
      stack.apiBase,
      "/api/v1/ingest",
      { "x-api-key": writeKey(t), "content-type": "application/json", "x-request-id": `vrf-term-slow-${marker}-${i}` },
      slowBody(i),
      gap
    )
  )
  const batches = Array.from({ length: 16 }, (_, i) =>
    ingest(client, t, marker, i % 2 === 0 ? 1000 : 50, "info", 60_000)
  )
  await sleep(1500)
  const exit = stack.api.stop("SIGTERM", 60_000)
  await sleep(300)
  release()
  const [slowResults, batchResults, code] = await Promise.all([Promise.all(slow), Promise.all(batches), exit])
  if (code !== 0) violations.push(`api SIGTERM: exit ${String(code)}`)
  for (const [i, r] of slowResults.entries()) {
    if (r.status !== 200)
      violations.push(`api SIGTERM: started request slow-${i} ended with ${r.status} ${r.error ?? r.body}`)
  }
  const { lines } = await readJsonLines(stack.api.logFiles)
  const started = new Set(lines.filter((l) => l.msg === "request").map((l) => l.requestId))
  let notStarted = 0
  const why = new Map<string, number>()
  for (const s of batchResults) {
    if (s.status === 200) continue
    if (s.status === 0 && !started.has(s.id)) {
      notStarted++
      why.set(s.error ?? "?", (why.get(s.error ?? "?") ?? 0) + 1)
    } else violations.push(`api SIGTERM: in-flight ${s.id} ended with ${s.status} ${s.error ?? ""}`)
  }
  const accepted = [
    ...slowResults.filter((r) => r.status === 200).map(() => 200),
    ...batchResults.filter((s) => s.status === 200).map((s) => Number((s.body as { received?: number }).received ?? 0))
  ].reduce((a, b) => a + b, 0)
  const stored = await storedWith(stack.pg.url, marker)
  if (stored !== accepted) violations.push(`api SIGTERM: ${accepted} entries acknowledged, ${stored} stored`)
  if (why.size > 0)
    process.stdout.write(`[verify] SIGTERM: batches never started by the server: ${JSON.stringify([...why])}\n`)
  if (restart) await stack.api.start()
  return {
    figures: {
      termStartedSlowRequests: slow.length,
      termStartedSlowCompleted: slowResults.filter((r) => r.status === 200).length,
      termBatches: batches.length,
      termBatchesCompleted: batchResults.filter((s) => s.status === 200).length,
      termBatchesNotStarted: notStarted,
      termEntriesStored: stored
    },
    violations
  }
}
