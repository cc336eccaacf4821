/**
 * The correlation checks over everything the soak captured. For every request the suite sent: its id is in the
 * response header (and error body), in exactly one access log line, in the statements it ran, in its audit rows;
 * a replay's id is in the job it enqueued, that job's log lines and the webhook it sent. For every request id
 * seen anywhere (client ids and the jobs' own `JOB-…` ids): it never appears together with a second tenant.
 */
import { createHmac } from "node:crypto"
import type { Sent } from "./Http.js"
import type { StoredJob } from "./Jobs.js"
import type { Received } from "./Receiver.js"
import type { Tenant } from "./Seed.js"
import { shape, type Statement } from "./StatementLog.js"

export interface AuditRow {
  readonly organization_id: string
  readonly request_id: string
  readonly action: string
}

export interface TenantRow {
  readonly source: string
  readonly organization_id: string
  readonly request_id: string | null
}

export interface Captured {
  readonly sent: ReadonlyArray<Sent>
  readonly tenants: ReadonlyArray<Tenant>
  readonly apiLines: ReadonlyArray<Record<string, unknown>>
  readonly workerLines: ReadonlyArray<Record<string, unknown>>
  readonly statements: ReadonlyArray<Statement>
  readonly audit: ReadonlyArray<AuditRow>
  /** Other rows that record a request id with their tenant (alert events, webhook deliveries). */
  readonly rows: ReadonlyArray<TenantRow>
  readonly jobs: ReadonlyArray<StoredJob>
  readonly webhooks: ReadonlyArray<Received>
  /**
   * The workers keep running while the capture is read: evaluations logged after this time may not have their
   * statements in the copied statement log, or their webhook sent yet, and are not checked.
   */
  readonly cutoffMs: number
  /** Statement shapes known to run without the request's comment (reported, listed in docs/reliability.md). */
  readonly known: ReadonlyArray<{ readonly shape: RegExp; readonly finding: string }>
}

export interface CorrelationResult {
  readonly figures: Record<string, number>
  readonly violations: Array<string>
  readonly knownFindings: Array<string>
  /** Observations that are by design (reported, never failing). */
  readonly notes: Array<string>
}

const SYSTEM = "org_system"
const MUTATIONS = new Set([
  "org.create",
  "project.create",
  "key.create",
  "key.revoke",
  "rule.create",
  "rule.update",
  "rule.delete",
  "delivery.replay"
])
const TX_CONTROL = /^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b/i
/**
 * Start-up and harness statements: migrations and each app pool's check of its login (run before any unit of work)
 * and the suite's own queries.
 */
const HARNESS =
  /effect_sql_migrations|^SHOW |^SELECT 1$|^SELECT r\.rolname AS login, r\.rolsuper AS superuser|^select \$1::regclass|pg_advisory_xact_lock|^CREATE |^DO |^--|^ALTER |^INSERT INTO "effect_sql_migrations"|^SELECT organization_id, request_id, action FROM audit_log|^COPY|^SELECT pg_reload_conf/

const push = <K, V>(map: Map<K, Set<V>>, key: K, value: V) => {
  const set = map.get(key)
  if (set === undefined) map.set(key, new Set([value]))
  else set.add(value)
}
const count = <K>(map: Map<K, number>, key: K, n = 1) => map.set(key, (map.get(key) ?? 0) + n)

export const correlate = (c: Captured): CorrelationResult => {
  const violations: Array<string> = []
  const knownFindings: Array<string> = []
  const tenantOrgs = new Set(c.tenants.map((t) => t.orgId))
  const orgToken = /org_[A-Za-z0-9]{1,60}/g
  const tenantsIn = (text: string): Array<string> => (text.match(orgToken) ?? []).filter((o) => tenantOrgs.has(o))
  /** Every tenant organization each request id was seen with, and where. */
  const orgsById = new Map<string, Set<string>>()
  const whereSeen = new Map<string, Set<string>>()
  const note = (id: string, source: string, orgs: ReadonlyArray<string | undefined | null>) => {
    push(whereSeen, id, source)
    for (const o of orgs) if (typeof o === "string" && tenantOrgs.has(o)) push(orgsById, id, `${o} (${source})`)
  }

  // statements
  const stmtsById = new Map<string, number>()
  /** Organizations named by the comments of each id's statements, and the audited bypasses it opened. */
  const commentOrgs = new Map<string, Set<string>>()
  const bypassById = new Map<string, Set<string>>()
  const attemptsById = new Map<string, number>()
  const eventsById = new Map<string, number>()
  const uncommented = new Map<string, number>()
  const groups = new Map<string, Set<string>>()
  for (const s of c.statements) {
    if (s.requestId !== undefined) {
      count(stmtsById, s.requestId)
      if (s.organizationId !== undefined) push(commentOrgs, s.requestId, s.organizationId)
      const bypass = /'threadline\.bypass', \$\d+ = '([^']*)'/.exec(s.params)
      if (bypass !== null) push(bypassById, s.requestId, bypass[1] ?? "")
      if (/^INSERT INTO webhook_attempts\b/.test(s.text)) count(attemptsById, s.requestId)
      if (/^INSERT INTO alert_events\b/.test(s.text)) count(eventsById, s.requestId)
      note(s.requestId, "sql", [s.organizationId, ...tenantsIn(s.text + s.params)])
      if (s.vxid !== "") push(groups, `${s.session}/${s.vxid}`, s.requestId)
    }
  }
  for (const [group, ids] of groups) {
    if (ids.size > 1)
      violations.push(`one transaction (${group}) ran statements of several requests: ${[...ids].join(", ")}`)
  }
  let txControl = 0
  let inRequestTx = 0
  for (const s of c.statements) {
    if (s.requestId !== undefined || s.text.startsWith("/*verify*/")) continue
    const sh = shape(s.text)
    const owners = groups.get(`${s.session}/${s.vxid}`)
    // Transaction control is commented too (src/Sql/Transaction.ts): a bare one is only acceptable outside any
    // request's transaction (migrations at start-up).
    if (TX_CONTROL.test(sh) && owners === undefined) {
      txControl++
      continue
    }
    if (HARNESS.test(sh)) continue
    if (owners !== undefined) {
      inRequestTx++
      violations.push(`statement without comment inside the transaction of ${[...owners].join(",")}: ${sh}`)
      continue
    }
    count(uncommented, sh)
  }
  for (const [sh, n] of uncommented) {
    const known = c.known.find((k) => k.shape.test(sh))
    const line = `${n} × statement without request id: ${sh}`
    if (known !== undefined) knownFindings.push(`${line} — ${known.finding}`)
    else violations.push(line)
  }

  // log lines
  const accessById = new Map<string, Array<Record<string, unknown>>>()
  const linesById = new Map<string, number>()
  for (const [source, lines] of [
    ["api log", c.apiLines],
    ["worker log", c.workerLines]
  ] as const) {
    for (const line of lines) {
      const id = line.requestId
      if (typeof id !== "string") {
        const orgs = tenantsIn(JSON.stringify(line))
        if (orgs.length > 1)
          violations.push(`${source} line without request id names several tenants: ${JSON.stringify(line)}`)
        continue
      }
      if (line.msg === "request" && source === "api log") {
        const list = accessById.get(id) ?? []
        list.push(line)
        accessById.set(id, list)
      } else count(linesById, id)
      note(id, source, [line.organizationId as string | undefined, ...tenantsIn(JSON.stringify(line))])
    }
  }

  // audit rows
  const auditById = new Map<string, Array<AuditRow>>()
  for (const row of c.audit) {
    const list = auditById.get(row.request_id) ?? []
    list.push(row)
    auditById.set(row.request_id, list)
    note(row.request_id, "audit", [row.organization_id])
  }

  for (const row of c.rows) if (row.request_id !== null) note(row.request_id, row.source, [row.organization_id])

  // jobs
  const jobsById = new Map<string, Array<StoredJob>>()
  let jobsWithCtx = 0
  for (const job of c.jobs) {
    const id = job.ctx?.requestId
    if (typeof id !== "string") continue
    jobsWithCtx++
    const list = jobsById.get(id) ?? []
    list.push(job)
    jobsById.set(id, list)
    note(id, `job ${job.queue}`, [job.ctx?.organizationId as string | undefined, ...tenantsIn(job.raw)])
  }

  // webhooks: request id header, tenant of the body, signature with the rule's known secret
  const secretByRule = new Map(c.tenants.flatMap((t) => t.rules.map((r) => [r.id, r.secret] as const)))
  const hooksById = new Map<string, number>()
  let signaturesChecked = 0
  for (const hook of c.webhooks) {
    const id = hook.headers["x-request-id"]
    if (typeof id !== "string") {
      violations.push(`webhook without X-Request-Id to ${hook.path}`)
      continue
    }
    if (typeof hook.headers.traceparent !== "string") violations.push(`webhook ${id} without traceparent`)
    count(hooksById, id)
    const body = JSON.parse(hook.body) as { organizationId?: string; data?: { ruleId?: string } }
    note(id, "webhook", [body.organizationId, ...tenantsIn(hook.body)])
    const secret = secretByRule.get(body.data?.ruleId ?? "")
    const sig = hook.headers["x-threadline-signature"]
    if (secret !== undefined && typeof sig === "string") {
      const m = /^t=(\d+),v1=([0-9a-f]+)$/.exec(sig)
      const expected = m === null ? "" : createHmac("sha256", secret).update(`${m[1]}.${hook.body}`).digest("hex")
      if (m === null || m[2] !== expected)
        violations.push(`webhook ${id}: signature does not verify with the rule's secret`)
      else signaturesChecked++
    }
  }

  // per client request
  const figures: Record<string, number> = {}
  let withStatements = 0
  let statementsMatched = 0
  let auditMatched = 0
  let replaysTraced = 0
  let replaysNotSent = 0
  for (const s of c.sent) {
    if (s.status === 0) {
      violations.push(`${s.id} ${s.kind}: no response (${s.error ?? "?"})`)
      continue
    }
    if (s.status >= 500) violations.push(`${s.id} ${s.kind}: status ${s.status} ${JSON.stringify(s.body)}`)
    if (s.responseId !== s.id) violations.push(`${s.id} ${s.kind}: response X-Request-Id is ${s.responseId}`)
    if (s.status >= 400 && (s.body as { reqId?: unknown } | undefined)?.reqId !== s.id) {
      violations.push(`${s.id} ${s.kind}: error body reqId is not the request id`)
    }
    const access = accessById.get(s.id) ?? []
    if (access.length !== 1) violations.push(`${s.id} ${s.kind}: ${access.length} access log lines`)
    for (const a of access) {
      if (a.status !== s.status) violations.push(`${s.id}: access log status ${String(a.status)} ≠ ${s.status}`)
      const org = a.organizationId
      if (org !== null && org !== SYSTEM && org !== s.orgId)
        violations.push(`${s.id}: access log organization ${JSON.stringify(org)}`)
    }
    const n = stmtsById.get(s.id) ?? 0
    statementsMatched += n
    if (n > 0) withStatements++
    else if (s.status < 300) violations.push(`${s.id} ${s.kind}: no statement carries its id`)
    const audit = auditById.get(s.id) ?? []
    auditMatched += audit.length
    if (MUTATIONS.has(s.kind) && s.status < 300 && audit.length === 0)
      violations.push(`${s.id} ${s.kind}: no audit row`)
    for (const row of audit) {
      if (row.organization_id !== s.orgId && row.organization_id !== SYSTEM) {
        violations.push(`${s.id}: audit row of ${row.organization_id}, request acted for ${String(s.orgId)}`)
      }
    }
    if (s.kind === "delivery.replay" && s.status === 204) {
      const jobs = jobsById.get(s.id) ?? []
      const hooks = hooksById.get(s.id) ?? 0
      const lines = linesById.get(s.id) ?? 0
      if (jobs.length === 0) violations.push(`${s.id}: replay enqueued no job carrying its id in _ctx`)
      if ((attemptsById.get(s.id) ?? 0) === 0)
        violations.push(`${s.id}: the replayed attempt's SQL does not carry its id`)
      // an attempt that sends nothing (e.g. "rule deleted: no signing secret") logs `status: null`: no webhook due
      const sent = c.workerLines.some((l) => l.requestId === s.id && l.msg === "webhook attempt" && l.status !== null)
      if (hooks === 0 && sent) violations.push(`${s.id}: replay's webhook did not carry its id`)
      if (!sent) replaysNotSent++
      if (lines === 0) violations.push(`${s.id}: no worker log line of the replayed delivery carries its id`)
      if (jobs.length > 0 && (hooks > 0 || !sent) && lines > 0) replaysTraced++
    }
    const orgs = orgsById.get(s.id)
    if (orgs !== undefined && s.orgId !== undefined) {
      const foreign = [...orgs].filter((o) => !o.startsWith(`${s.orgId} `))
      if (foreign.length > 0)
        violations.push(`${s.id} (${s.kind}, ${s.orgId}) seen with another tenant: ${foreign.join(", ")}`)
    }
  }

  // every id (jobs' own ids included): at most one tenant
  // A system unit of work (every statement under org_system) that opened an audited bypass may read or write
  // several tenants by design (usage flush, alert tick, retention); it is counted, with its bypass reasons.
  const clientIds = new Set(c.sent.map((s) => s.id))
  let jobIds = 0
  const systemCrossTenant = new Map<string, number>()
  for (const [id, orgs] of orgsById) {
    if (clientIds.has(id)) continue
    jobIds++
    const distinct = new Set([...orgs].map((o) => o.split(" ")[0]))
    if (distinct.size <= 1) continue
    const underSystem = [...(commentOrgs.get(id) ?? [])].every((o) => o === SYSTEM)
    const bypasses = bypassById.get(id)
    if (underSystem && bypasses !== undefined && bypasses.size > 0) {
      for (const b of bypasses) count(systemCrossTenant, b)
    } else violations.push(`${id} seen with several tenants: ${[...orgs].join(", ")}`)
  }
  // evaluations that triggered must have delivered under their own id
  let triggered = 0
  for (const line of c.workerLines) {
    const settled = typeof line.time === "number" && line.time < c.cutoffMs
    if (
      settled &&
      typeof line.deliveryId === "string" &&
      typeof line.eventId === "string" &&
      typeof line.requestId === "string"
    ) {
      triggered++
      if ((eventsById.get(line.requestId) ?? 0) === 0) {
        violations.push(`evaluation ${line.requestId}: its alert_events INSERT does not carry its id`)
      }
      if ((hooksById.get(line.requestId) ?? 0) === 0) {
        violations.push(`evaluation ${line.requestId} triggered ${line.deliveryId} but no webhook carried its id`)
      }
    }
  }

  Object.assign(figures, {
    requests: c.sent.length,
    requestsWithStatements: withStatements,
    statementsMatched,
    statementsTotal: c.statements.length,
    statementsWithoutCommentTxControl: txControl,
    statementsWithoutCommentInRequestTx: inRequestTx,
    statementsWithoutCommentOther: [...uncommented.values()].reduce((a, b) => a + b, 0),
    accessLogLines: [...accessById.values()].reduce((a, l) => a + l.length, 0),
    appLogLinesWithRequestId: [...linesById.values()].reduce((a, b) => a + b, 0),
    auditRowsMatched: auditMatched,
    auditRowsTotal: c.audit.length,
    jobsInRedis: c.jobs.length,
    jobsWithCtx,
    jobRequestIds: jobIds,
    systemBypassUnitsAcrossTenants: [...systemCrossTenant.values()].reduce((a, b) => a + b, 0),
    evaluationsTriggered: triggered,
    webhooks: c.webhooks.length,
    webhookSignaturesVerified: signaturesChecked,
    replaysTracedEndToEnd: replaysTraced,
    replaysWithNothingToSend: replaysNotSent,
    violations: violations.length
  })
  const notes = [...systemCrossTenant].map(
    ([reason, n]) => `${n} system unit(s) of work touched several tenants under the audited bypass "${reason}"`
  )
  return { figures, violations, knownFindings, notes }
}
