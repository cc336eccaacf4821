/**
 * The correlation soak's workload: a random mix of ingestion (LogTide batch, single, OTLP JSON), search and stats,
 * tenancy mutations (projects, API keys), alert rules and the alert/audit/delivery reads, plus replays of failed
 * deliveries, each with its own random client request id, after a random small delay, many in flight at once.
 * Every entry ingested at level `error` makes the organization's rules trigger on the next tick.
 */
import { randomBytes, randomInt } from "node:crypto"
import { type Client, field, pool, type Sent, sleep } from "./Http.js"
import type { Receiver } from "./Receiver.js"
import { createKey, createRule, session, type Tenant } from "./Seed.js"

const LEVELS = ["debug", "info", "warn", "error", "critical"] as const
const pick = <T>(xs: ReadonlyArray<T>): T => xs[randomInt(xs.length)] as T

const entry = (marker: string) => ({
  service: pick(["api", "billing", "worker", "edge"]),
  level: randomInt(10) === 0 ? "error" : pick(LEVELS.slice(0, 3)),
  message: `soak ${marker} ${randomBytes(6).toString("hex")}`,
  metadata: { n: randomInt(1000), marker },
  trace_id: randomBytes(16).toString("hex")
})

type Op = (client: Client, t: Tenant, receiver: Receiver) => Promise<Sent>

const fullKey = (t: Tenant) => t.keys.find((k) => k.type === "full")
const anyKey = (t: Tenant) => pick(t.keys)

const ops: ReadonlyArray<readonly [number, Op]> = [
  [
    30,
    (c, t) =>
      c.call("/api/v1/ingest", {
        kind: "ingest.batch",
        orgId: t.orgId,
        headers: { "x-api-key": anyKey(t).secret },
        json: { logs: Array.from({ length: 1 + randomInt(20) }, () => entry(t.slug)) }
      })
  ],
  [
    8,
    (c, t) =>
      c.call("/api/v1/ingest/single", {
        kind: "ingest.single",
        orgId: t.orgId,
        headers: { authorization: `Bearer ${anyKey(t).secret}` },
        json: entry(t.slug)
      })
  ],
  [
    8,
    (c, t) =>
      c.call("/v1/otlp/logs", {
        kind: "ingest.otlp",
        orgId: t.orgId,
        headers: { "x-api-key": anyKey(t).secret },
        json: {
          resourceLogs: [
            {
              resource: { attributes: [{ key: "service.name", value: { stringValue: "otel-svc" } }] },
              scopeLogs: [
                {
                  logRecords: [
                    {
                      timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
                      severityNumber: randomInt(10) === 0 ? 17 : 9,
                      body: { stringValue: `otlp ${t.slug}` }
                    }
                  ]
                }
              ]
            }
          ]
        }
      })
  ],
  [
    15,
    (c, t) => {
      const key = fullKey(t)
      return c.call(`/api/v1/logs?limit=${1 + randomInt(50)}${randomInt(2) === 0 ? "&level=error" : ""}`, {
        kind: "search.key",
        orgId: t.orgId,
        headers: { "x-api-key": key?.secret ?? "" }
      })
    }
  ],
  [
    6,
    (c, t) =>
      c.call(`/api/v1/logs?projectId=${pick(t.projects)}&q=soak&limit=20`, {
        kind: "search.session",
        orgId: t.orgId,
        headers: session(t)
      })
  ],
  [
    4,
    (c, t) =>
      c.call(`/api/v1/logs/stats?projectId=${pick(t.projects)}`, { kind: "stats", orgId: t.orgId, headers: session(t) })
  ],
  [
    3,
    async (c, t) => {
      const res = await c.call(`/api/v1/orgs/${t.orgId}/projects`, {
        kind: "project.create",
        orgId: t.orgId,
        headers: session(t),
        json: { name: `p-${randomBytes(3).toString("hex")}` }
      })
      const id = field(res.body, "id")
      if (typeof id === "string") t.projects.push(id)
      return res
    }
  ],
  [
    3,
    (c, t) => c.call(`/api/v1/orgs/${t.slug}/projects`, { kind: "project.list", orgId: t.orgId, headers: session(t) })
  ],
  [
    3,
    async (c, t) => {
      const before = c.sent.length
      if (t.keys.length >= 12) {
        const victim = t.keys.splice(2, 1)[0]
        if (victim !== undefined) {
          return c.call(`/api/v1/orgs/${t.orgId}/projects/${victim.projectId}/api-keys/${victim.id}`, {
            kind: "key.revoke",
            orgId: t.orgId,
            method: "DELETE",
            headers: session(t)
          })
        }
      }
      t.keys.push(await createKey(c, t, pick(t.projects), randomInt(2) === 0 ? "full" : "write"))
      return c.sent[before] as Sent
    }
  ],
  [
    2,
    async (c, t, r) => {
      const before = c.sent.length
      if (t.rules.length >= 6) {
        const victim = t.rules.splice(2, 1)[0]
        if (victim !== undefined) {
          return c.call(`/api/v1/orgs/${t.orgId}/alert-rules/${victim.id}`, {
            kind: "rule.delete",
            orgId: t.orgId,
            method: "DELETE",
            headers: session(t)
          })
        }
      }
      await createRule(c, t, r, randomInt(2) === 0)
      return c.sent[before] as Sent
    }
  ],
  [
    2,
    (c, t, r) => {
      const rule = t.rules[0]
      return c.call(`/api/v1/orgs/${t.orgId}/alert-rules/${rule?.id ?? "alr_none"}`, {
        kind: "rule.update",
        orgId: t.orgId,
        method: "PUT",
        headers: session(t),
        json: {
          name: `errors ${randomInt(100)}`,
          level: ["error", "critical"],
          threshold: 1,
          windowMinutes: 1,
          cooldownMinutes: 0,
          webhookUrl: r.url(`/hook/${t.slug}`)
        }
      })
    }
  ],
  [
    3,
    (c, t) => c.call(`/api/v1/orgs/${t.orgId}/alert-rules`, { kind: "rule.list", orgId: t.orgId, headers: session(t) })
  ],
  [
    2,
    (c, t) =>
      c.call(`/api/v1/orgs/${t.orgId}/alert-events`, { kind: "event.list", orgId: t.orgId, headers: session(t) })
  ],
  [
    2,
    (c, t) => c.call(`/api/v1/orgs/${t.orgId}/audit-log`, { kind: "audit.list", orgId: t.orgId, headers: session(t) })
  ],
  [
    3,
    async (c, t) => {
      const list = await c.call(`/api/v1/orgs/${t.orgId}/webhook-deliveries?limit=50`, {
        kind: "delivery.list",
        orgId: t.orgId,
        headers: session(t)
      })
      const items = field(list.body, "items")
      const failed = Array.isArray(items)
        ? items.filter((d) => field(d, "status") === "failed" || field(d, "status") === "dead")
        : []
      if (failed.length === 0) return list
      return c.call(`/api/v1/orgs/${t.orgId}/webhook-deliveries/${String(field(pick(failed), "id"))}/replay`, {
        kind: "delivery.replay",
        orgId: t.orgId,
        method: "POST",
        headers: session(t)
      })
    }
  ],
  [2, (c, t) => c.call(`/api/v1/orgs/${t.slug}`, { kind: "org.get", orgId: t.orgId, headers: session(t) })]
]

const total = ops.reduce((n, [w]) => n + w, 0)
const chooseOp = (): Op => {
  let x = randomInt(total)
  for (const [w, op] of ops) {
    if (x < w) return op
    x -= w
  }
  return ops[0]![1]
}

export interface SoakOptions {
  readonly requests: number
  readonly concurrency: number
  readonly maxDelayMs: number
}

/** Sends about `requests` requests (an op may send two: a list and then a replay). */
export const soak = async (client: Client, tenants: ReadonlyArray<Tenant>, receiver: Receiver, o: SoakOptions) => {
  const started = client.sent.length
  const slots = Array.from({ length: o.requests }, (_, i) => i)
  await pool(slots, o.concurrency, async () => {
    if (client.sent.length - started >= o.requests) return
    await sleep(randomInt(o.maxDelayMs + 1))
    await chooseOp()(client, pick(tenants), receiver)
  })
}
