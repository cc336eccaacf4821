/**
 * Fault injection on the running system. Each scenario returns figures and violations:
 * - Redis restart during ingestion and alert jobs: every accepted entry is stored, deliveries do not stay pending,
 *   processing resumes (the scheduler's tick runs again in the worker).
 * - PostgreSQL stopped: /ready turns 503, ingestion answers 503 quickly (no hang), recovery without intervention.
 * - SIGKILL of the worker while a delivery is in progress: the stalled job is redone under the same request id.
 * - SIGTERM of the API under load: FaultsTerm.ts.
 */
import { randomBytes } from "node:crypto"
import { readJsonLines } from "./Children.js"
import { type Client, pool, type Sent, sleep } from "./Http.js"
import { query, startPostgres, stopPostgres } from "./Postgres.js"
import type { Receiver } from "./Receiver.js"
import type { Tenant } from "./Seed.js"
import type { Stack } from "./Stack.js"

export interface FaultResult {
  readonly figures: Record<string, number>
  readonly violations: Array<string>
}

export const writeKey = (t: Tenant) => t.keys.find((k) => k.type === "write")?.secret ?? ""

export const ingest = (client: Client, t: Tenant, marker: string, n: number, level = "info", timeoutMs = 30_000) =>
  client.call("/api/v1/ingest", {
    kind: "fault.ingest",
    orgId: t.orgId,
    headers: { "x-api-key": writeKey(t) },
    json: { logs: Array.from({ length: n }, (_, i) => ({ service: "fault", level, message: `${marker} ${i}` })) },
    timeoutMs
  })

/** Sends ingestion batches from `lanes` loops until `stop()` says so. */
const loadUntil = async (lanes: number, stop: () => boolean, send: () => Promise<Sent>) => {
  const out: Array<Sent> = []
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (!stop()) {
        out.push(await send())
        await sleep(20)
      }
    })
  )
  return out
}

export const storedWith = async (url: string, marker: string) =>
  Number(
    (await query<{ n: string }>(url, "SELECT count(*) AS n FROM logs WHERE message LIKE $1", [`${marker} %`]))[0]?.n ??
      0
  )

const pendingDeliveries = async (url: string) =>
  Number(
    (await query<{ n: string }>(url, "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'"))[0]?.n ??
      0
  )

const waitFor = async (what: () => Promise<boolean>, timeoutMs: number): Promise<number | undefined> => {
  const start = Date.now()
  while (Date.now() - start < timeoutMs) {
    if (await what().catch(() => false)) return Date.now() - start
    await sleep(250)
  }
  return undefined
}

export const redisRestart = async (
  stack: Stack,
  client: Client,
  t: Tenant,
  receiver: Receiver
): Promise<FaultResult> => {
  const violations: Array<string> = []
  const marker = `redis-fault-${randomBytes(4).toString("hex")}`
  let done = false
  const load = loadUntil(
    4,
    () => done,
    () => ingest(client, t, marker, 5, Math.random() < 0.3 ? "error" : "info")
  )
  await sleep(1500)
  await stack.redis.restart(1500)
  const hooksBefore = receiver.received.length
  await sleep(3000)
  done = true
  const sent = await load
  const accepted = sent.filter((s) => s.status === 200)
  const acceptedEntries = accepted.reduce((n, s) => n + Number((s.body as { received?: number }).received ?? 0), 0)
  const stored = await storedWith(stack.pg.url, marker)
  if (stored < acceptedEntries) violations.push(`redis restart: ${acceptedEntries} entries accepted, ${stored} stored`)
  for (const s of sent)
    if (s.status >= 500 && s.status !== 503) violations.push(`redis restart: ${s.id} answered ${s.status}`)
  for (const s of sent) if (s.status === 0) violations.push(`redis restart: ${s.id} no answer (${s.error ?? ""})`)
  // processing resumes: deliveries created around the restart all leave `pending`, and new webhooks arrive
  const settled = await waitFor(async () => (await pendingDeliveries(stack.pg.url)) === 0, 45_000)
  if (settled === undefined) violations.push(`redis restart: deliveries still pending 45 s after the restart`)
  // processing resumes: the scheduler's next tick is enqueued and run by the worker after Redis is back
  const back = Date.now()
  const resumed = await waitFor(async () => {
    const { lines } = await readJsonLines(stack.worker.logFiles)
    return lines.some((l) => l.msg === "alert tick" && typeof l.time === "number" && l.time > back)
  }, 30_000)
  if (resumed === undefined) violations.push("redis restart: no alert tick ran within 30 s of Redis' return")
  return {
    figures: {
      redisIngestRequests: sent.length,
      redisIngestAccepted: accepted.length,
      redisIngest503: sent.filter((s) => s.status === 503).length,
      redisEntriesAccepted: acceptedEntries,
      redisEntriesStored: stored,
      redisWebhooksAfterRestart: receiver.received.length - hooksBefore,
      redisDeliveriesSettledMs: settled ?? -1,
      redisJobsResumedMs: resumed ?? -1
    },
    violations
  }
}

export const postgresOutage = async (stack: Stack, client: Client, t: Tenant): Promise<FaultResult> => {
  const violations: Array<string> = []
  const marker = `pg-fault-${randomBytes(4).toString("hex")}`
  const ready = async () => (await fetch(`${stack.apiBase}/ready`, { signal: AbortSignal.timeout(10_000) })).status
  if ((await ready()) !== 200) violations.push("postgres outage: /ready not 200 before the outage")
  await stopPostgres(stack.pg)
  const down = Date.now()
  const to503 = await waitFor(async () => (await ready()) === 503, 15_000)
  if (to503 === undefined) violations.push("postgres outage: /ready did not turn 503 within 15 s")
  const during: Array<Sent> = []
  await pool(
    Array.from({ length: 12 }, (_, i) => i),
    6,
    async () => {
      during.push(await ingest(client, t, marker, 3, "info", 30_000))
    }
  )
  const slowest = Math.max(...during.map((s) => s.durationMs))
  for (const s of during) {
    if (s.status === 0) violations.push(`postgres outage: ingestion ${s.id} got no answer (${s.error ?? ""})`)
    else if (s.status !== 503) violations.push(`postgres outage: ingestion ${s.id} answered ${s.status}, not 503`)
  }
  if (slowest > 5_000) violations.push(`postgres outage: an ingestion took ${Math.round(slowest)} ms to answer`)
  const downFor = Date.now() - down
  await startPostgres(stack.pg)
  const toReady = await waitFor(async () => (await ready()) === 200, 60_000)
  if (toReady === undefined) violations.push("postgres outage: /ready not 200 within 60 s of PostgreSQL's return")
  const after = await ingest(client, t, marker, 3)
  if (after.status !== 200) violations.push(`postgres outage: ingestion after recovery answered ${after.status}`)
  const workerOk = stack.worker.running && stack.api.running
  if (!workerOk) violations.push("postgres outage: a Threadline process exited")
  return {
    figures: {
      pgDownMs: downFor,
      pgReadyTo503Ms: to503 ?? -1,
      pgIngestDuringOutage: during.length,
      pgIngestSlowestMs: Math.round(slowest),
      pgIngestMedianMs: Math.round(
        during.map((s) => s.durationMs).sort((a, b) => a - b)[Math.floor(during.length / 2)] ?? 0
      ),
      pgReadyAgainMs: toReady ?? -1,
      pgRecoveredIngestStatus: after.status
    },
    violations
  }
}

/** A rule whose destination answers slowly, an error to trigger it, SIGKILL while the delivery is in progress. */
export const workerKill = async (stack: Stack, client: Client, t: Tenant, receiver: Receiver): Promise<FaultResult> => {
  const violations: Array<string> = []
  const rule = await client.call(`/api/v1/orgs/${t.orgId}/alert-rules`, {
    kind: "rule.create",
    orgId: t.orgId,
    headers: { authorization: `Bearer ${t.token}` },
    json: {
      name: "slow hook",
      level: ["critical"],
      threshold: 1,
      windowMinutes: 1,
      cooldownMinutes: 0,
      webhookUrl: receiver.url(`/slow/${t.slug}`)
    }
  })
  if (rule.status !== 201) return { figures: {}, violations: [`worker kill: rule not created (${rule.status})`] }
  const first = receiver.received.length
  await ingest(client, t, `kill-${randomBytes(3).toString("hex")}`, 1, "critical")
  const inProgress = await waitFor(
    async () => receiver.received.slice(first).some((r) => r.path.startsWith("/slow/")),
    90_000
  )
  if (inProgress === undefined) return { figures: {}, violations: ["worker kill: the slow delivery never started"] }
  const hit = receiver.received.slice(first).find((r) => r.path.startsWith("/slow/"))
  const id = hit?.headers["x-request-id"]
  await stack.worker.stop("SIGKILL")
  const killedAt = Date.now()
  await stack.worker.start()
  const redone = await waitFor(
    async () =>
      receiver.received.some((r) => r.at > killedAt && r.path.startsWith("/slow/") && r.headers["x-request-id"] === id),
    120_000
  )
  if (redone === undefined)
    violations.push(`worker kill: the stalled delivery (${String(id)}) was not redone within 120 s`)
  return { figures: { workerKillRedoneAfterMs: redone ?? -1 }, violations }
}
