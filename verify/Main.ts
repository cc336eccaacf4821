/**
 * The suite, on one stack: seed + correlation soak, settle, bad input (fast-check), capture and correlate, then
 * faults, then memory, then the secrets scan over everything captured. Prints every figure and writes them, with
 * every violation, to `<dir>/figures.json`. Returns the exit code (0: no violation).
 */
import { copyFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { readJsonLines } from "./Children.js"
import { type AuditRow, type Captured, correlate, type TenantRow } from "./Correlate.js"
import { postgresOutage, redisRestart, workerKill } from "./Faults.js"
import { apiTerm } from "./FaultsTerm.js"
import { fuzz } from "./Fuzz.js"
import { Client, sleep } from "./Http.js"
import { JobWatcher } from "./Jobs.js"
import { KNOWN_UNCOMMENTED } from "./Known.js"
import { memory, watchPeakRss } from "./Memory.js"
import { logFile, type PgControl, query, setStatementLogging } from "./Postgres.js"
import { Receiver } from "./Receiver.js"
import { scanSecrets } from "./Secrets.js"
import { secrets, seedTenant, type Tenant } from "./Seed.js"
import { selfCheck } from "./SelfCheck.js"
import { soak } from "./Soak.js"
import { startStack, type Stack, stopStack } from "./Stack.js"
import { parseStatementLog } from "./StatementLog.js"

export interface VerifyOptions {
  readonly short: boolean
  /** `--name=value` overrides of the plan, for development: orgs, requests, fuzzRuns, memorySeconds, faults. */
  readonly overrides: ReadonlyArray<string>
  readonly strict: boolean
  readonly dir: string
  readonly pg: PgControl
}

/** The api's resident memory during the fuzz phase (soak alongside) stays under this. */
const FUZZ_MAX_RSS_BYTES = 500 * 1024 * 1024

export const log = (line: string) => process.stdout.write(`[verify] ${line}\n`)

const plans: { readonly short: Plan; readonly full: Plan } = {
  short: {
    orgs: 5,
    requests: 500,
    concurrency: 24,
    maxDelayMs: 20,
    fuzzRuns: 30,
    memorySeconds: 10,
    faults: ["redis", "postgres"]
  },
  full: {
    orgs: 50,
    requests: 10_000,
    concurrency: 24,
    maxDelayMs: 30,
    fuzzRuns: 400,
    memorySeconds: 600,
    faults: ["redis", "postgres", "kill"]
  }
}

interface Plan {
  orgs: number
  requests: number
  concurrency: number
  maxDelayMs: number
  fuzzRuns: number
  memorySeconds: number
  faults: ReadonlyArray<string>
}

const withOverrides = (base: Plan, args: ReadonlyArray<string>): Plan => {
  const plan: Plan = { ...base }
  for (const arg of args) {
    const m = /^--(orgs|requests|fuzzRuns|memorySeconds|faults)=(.*)$/.exec(arg)
    if (m === null) continue
    if (m[1] === "faults") plan.faults = m[2] === "" ? [] : (m[2] ?? "").split(",")
    else plan[m[1] as "orgs" | "requests" | "fuzzRuns" | "memorySeconds"] = Number(m[2])
  }
  return plan
}

const phase = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
  const start = Date.now()
  log(`${name}…`)
  const out = await run()
  log(`${name} done in ${((Date.now() - start) / 1000).toFixed(1)} s`)
  return out
}

const pendingDeliveries = async (url: string) =>
  Number(
    (await query<{ n: string }>(url, "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'"))[0]?.n ??
      0
  )

export const runVerify = async (options: VerifyOptions): Promise<number> => {
  const started = Date.now()
  const plan = withOverrides(options.short ? plans.short : plans.full, options.overrides)
  const figures: Record<string, number> = {}
  const violations: Array<string> = []
  const known: Array<string> = []
  const notes: Array<string> = []
  log(`${options.short ? "short" : "full"} run; artefacts in ${options.dir}`)
  const receiver = await Receiver.start()
  let stack: Stack | undefined
  try {
    stack = await phase("stack", () => startStack({ pg: options.pg, dir: options.dir, heapProbe: true }))
    const s = stack
    const client = new Client(s.apiBase)
    const run = Date.now().toString(36)
    const tenants: Array<Tenant> = []
    await phase(`seed ${plan.orgs} organizations`, async () => {
      for (let i = 0; i < plan.orgs; i += 5) {
        const n = Math.min(5, plan.orgs - i)
        tenants.push(
          ...(await Promise.all(Array.from({ length: n }, (_, j) => seedTenant(client, receiver, i + j, run))))
        )
      }
    })
    const first = tenants[0]!
    const watcher = new JobWatcher(s.redis.url)
    watcher.start()
    // bad input runs alongside the soak: its requests are load too, and must not disturb the correlation
    const [, fuzzed] = await Promise.all([
      phase(`soak ${plan.requests} requests`, () => soak(client, tenants, receiver, plan)),
      phase(`fuzz ${plan.fuzzRuns} runs per property`, async () => {
        // bad input of any size must leave the api's memory bounded, the soak's load included
        const peakRss = await watchPeakRss(s.api.pid)
        const result = await fuzz(
          {
            base: s.apiBase,
            writeKey: first.keys.find((k) => k.type === "write")!.secret,
            fullKey: first.keys.find((k) => k.type === "full")!.secret,
            sessionToken: first.token,
            projectId: first.projects[0]!,
            alive: () => s.api.running
          },
          plan.fuzzRuns
        )
        const peak = await peakRss()
        result.figures.fuzzApiPeakRssMB = peak < 0 ? -1 : Math.round(peak / (1024 * 1024))
        if (peak > FUZZ_MAX_RSS_BYTES) {
          result.violations.push(
            `fuzz: the api's resident memory peaked at ${result.figures.fuzzApiPeakRssMB} MB (limit ${FUZZ_MAX_RSS_BYTES / (1024 * 1024)} MB)`
          )
        }
        return result
      })
    ])
    await phase("settle (alert ticks, deliveries)", async () => {
      // one tick (2 s) at least, then until no delivery is pending
      await sleep(3000)
      for (let i = 0; i < 120 && (await pendingDeliveries(s.pg.url)) > 0; i++) await sleep(500)
    })
    Object.assign(figures, fuzzed.figures)
    violations.push(...fuzzed.violations)
    known.push(...fuzzed.known)

    const correlation = await phase("correlate", async () => {
      // evaluations logged in the last 15 s may still be delivering (outbound timeout 10 s): checked up to here
      const cutoffMs = Date.now() - 15_000
      await sleep(300) // the access log is written in 50 ms batches
      const jobs = await watcher.stop()
      const audit = await query<AuditRow>(s.pg.url, "SELECT organization_id, request_id, action FROM audit_log")
      await copyFile(logFile(s.pg), join(options.dir, "statements.soak.log"))
      const parsed = await parseStatementLog(join(options.dir, "statements.soak.log"))
      const api = await readJsonLines(s.api.logFiles)
      const worker = await readJsonLines(s.worker.logFiles)
      const rows = await query<TenantRow>(
        s.pg.url,
        `SELECT 'alert_events' AS source, organization_id, request_id FROM alert_events
         UNION ALL SELECT 'webhook_deliveries', organization_id, request_id FROM webhook_deliveries`
      )
      const captured: Captured = {
        sent: client.sent,
        tenants,
        apiLines: api.lines,
        workerLines: worker.lines,
        statements: parsed.statements,
        audit,
        rows,
        jobs,
        webhooks: [...receiver.received],
        cutoffMs,
        known: KNOWN_UNCOMMENTED
      }
      const result = correlate(captured)
      const missed = selfCheck(captured)
      for (const m of missed) result.violations.push(`self-check: an injected defect went unnoticed: ${m}`)
      result.figures.selfCheckInjectionsMissed = missed.length
      return result
    })
    Object.assign(figures, correlation.figures)
    violations.push(...correlation.violations)
    known.push(...correlation.knownFindings)
    notes.push(...correlation.notes)
    log(`correlation: ${JSON.stringify(correlation.figures)}`)
    await writeFile(join(options.dir, "correlation.json"), JSON.stringify(correlation, null, 2))

    await setStatementLogging(s.pg.url, "none")
    const faultClient = new Client(s.apiBase)
    for (const fault of plan.faults) {
      const r = await phase(`fault: ${fault}`, () => {
        switch (fault) {
          case "redis":
            return redisRestart(s, faultClient, first, receiver)
          case "postgres":
            return postgresOutage(s, faultClient, first)
          case "kill":
            return workerKill(s, faultClient, tenants[1] ?? first, receiver)
          default:
            return Promise.resolve({ figures: {}, violations: [`unknown fault "${fault}"`] })
        }
      })
      Object.assign(figures, r.figures)
      violations.push(...r.violations)
    }

    const mem = await phase(`memory ${plan.memorySeconds} s`, () =>
      memory(s, first, plan.memorySeconds, !options.short)
    )
    Object.assign(figures, mem.figures)
    violations.push(...mem.violations)

    // last, since it stops the API for good
    const term = await phase("fault: SIGTERM the API under load", () => apiTerm(s, faultClient, first, false))
    Object.assign(figures, term.figures)
    violations.push(...term.violations)

    await stopStack(s)
    stack = undefined
    const scanned = await phase("secrets", async () => {
      await copyFile(logFile(options.pg), join(options.dir, "statements.all.log"))
      return scanSecrets(
        [...secrets, ...s.deploymentSecrets.map((v) => ({ kind: "THREADLINE_SECRET_KEY", value: v }))],
        [options.dir],
        options.pg.url
      )
    })
    Object.assign(figures, scanned.figures)
    violations.push(...scanned.violations)
  } finally {
    if (stack !== undefined) await stopStack(stack).catch(() => undefined)
    await receiver.close()
  }
  figures.totalSeconds = Math.round((Date.now() - started) / 1000)
  await writeFile(join(options.dir, "figures.json"), JSON.stringify({ figures, violations, known, notes }, null, 2))
  log("figures:")
  for (const [k, v] of Object.entries(figures)) log(`  ${k.padEnd(36)} ${v}`)
  for (const n of notes) log(`NOTE (by design): ${n}`)
  for (const k of known) log(`FINDING (known, pending fix in src): ${k}`)
  for (const v of violations.slice(0, 50)) log(`VIOLATION: ${v}`)
  if (violations.length > 50) log(`… and ${violations.length - 50} more violations (figures.json)`)
  const failed = violations.length > 0 || (options.strict && known.length > 0)
  log(failed ? `FAILED: ${violations.length} violations` : "PASSED: no violation")
  return failed ? 1 : 0
}
