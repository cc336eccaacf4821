/**
 * Memory under sustained load: autocannon drives a mix of ingestion (write key), search (full key), an unknown key
 * (401) and /health against the API for a fixed time, while HeapProbe.ts (preloaded into the API child) samples
 * heapUsed after a forced full GC and RSS every 2 s. Flat after warm-up means: the heap at the end is within a small
 * bound of the heap when warm-up ended, and the fitted slope over the rest of the run is about zero.
 */
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import autocannon from "autocannon"
import type { Tenant } from "./Seed.js"
import type { Stack } from "./Stack.js"

export interface MemoryResult {
  readonly figures: Record<string, number>
  readonly violations: Array<string>
}

interface Sample {
  readonly t: number
  readonly heapUsed: number
  readonly rss: number
}

const MB = 1024 * 1024
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
/** Least-squares slope in bytes per minute. */
const slope = (xs: ReadonlyArray<Sample>, pick: (s: Sample) => number) => {
  const mt = mean(xs.map((s) => s.t))
  const mv = mean(xs.map(pick))
  let num = 0
  let den = 0
  for (const s of xs) {
    num += (s.t - mt) * (pick(s) - mv)
    den += (s.t - mt) ** 2
  }
  return den === 0 ? 0 : (num / den) * 60_000
}

export const memory = async (stack: Stack, t: Tenant, seconds: number, strict: boolean): Promise<MemoryResult> => {
  const write = t.keys.find((k) => k.type === "write")?.secret ?? ""
  const full = t.keys.find((k) => k.type === "full")?.secret ?? ""
  const entry = JSON.stringify({ logs: [{ service: "mem", level: "info", message: "memory soak entry" }] })
  const start = Date.now()
  const result = await autocannon({
    url: stack.apiBase,
    connections: 32,
    duration: seconds,
    // the server's own request timeout (THREADLINE_REQUEST_TIMEOUT_MS) is 30 s; a client giving up sooner would
    // count the loaded machine's slowness, not a fault
    timeout: 30,
    requests: [
      {
        method: "POST",
        path: "/api/v1/ingest",
        headers: { "x-api-key": write, "content-type": "application/json" },
        body: entry
      },
      { method: "GET", path: "/api/v1/logs?limit=20", headers: { "x-api-key": full } },
      { method: "GET", path: "/api/v1/logs?limit=5", headers: { "x-api-key": "tl_unknownunknownunknownunknown" } },
      { method: "GET", path: "/health" }
    ]
  })
  const end = Date.now()
  const text = await readFile(join(stack.dir, "heap.jsonl"), "utf8").catch(() => "")
  const samples = text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Sample)
    .filter((s) => s.t >= start && s.t <= end)
  const violations: Array<string> = []
  const warmEnd = start + (end - start) * 0.25
  const after = samples.filter((s) => s.t >= warmEnd)
  const lastQuarter = samples.filter((s) => s.t >= start + (end - start) * 0.75)
  const warm = after[0]
  const figures: Record<string, number> = {
    memSeconds: Math.round((end - start) / 1000),
    memRequests: result.requests.total,
    memRequestsPerSecond: Math.round(result.requests.average),
    memNon2xx: result.non2xx,
    mem5xx: result["5xx"],
    memErrors: result.errors,
    memTimeouts: result.timeouts,
    memLatencyP50Ms: result.latency.p50,
    memLatencyP99Ms: result.latency.p99,
    memLatencyMaxMs: result.latency.max,
    memSamples: samples.length,
    memHeapAtWarmMB: warm === undefined ? -1 : +(warm.heapUsed / MB).toFixed(1),
    memHeapLastQuarterMB: +(mean(lastQuarter.map((s) => s.heapUsed)) / MB).toFixed(1),
    memHeapMaxAfterWarmMB: +(Math.max(...after.map((s) => s.heapUsed)) / MB).toFixed(1),
    memHeapSlopeMBPerMin: +(slope(after, (s) => s.heapUsed) / MB).toFixed(2),
    memRssAtWarmMB: warm === undefined ? -1 : +(warm.rss / MB).toFixed(1),
    memRssLastQuarterMB: +(mean(lastQuarter.map((s) => s.rss)) / MB).toFixed(1),
    memRssSlopeMBPerMin: +(slope(after, (s) => s.rss) / MB).toFixed(2)
  }
  // 401s are part of the mix (one request in four); no answer may be a 5xx
  if (result["5xx"] > 0) violations.push(`memory: ${result["5xx"]} answers were 5xx`)
  if (result.errors + result.timeouts > 0)
    violations.push(`memory: ${result.errors} errors, ${result.timeouts} timeouts`)
  const growth = figures.memHeapLastQuarterMB! - figures.memHeapAtWarmMB!
  figures.memHeapGrowthAfterWarmMB = +growth.toFixed(1)
  if (strict && samples.length >= 8 && growth > Math.max(10, figures.memHeapAtWarmMB! * 0.15)) {
    violations.push(
      `memory: heap grew ${growth.toFixed(1)} MB after warm-up (${figures.memHeapAtWarmMB} → ${figures.memHeapLastQuarterMB} MB)`
    )
  }
  if (!stack.api.running) violations.push("memory: the API process died")
  return { figures, violations }
}

/**
 * The peak resident set of a process over a phase, from Linux's own high-water mark: `clear_refs` 5 resets
 * `VmHWM` to the current RSS, and `VmHWM` read at the end is the peak in between, however short the spike (the 2 s
 * samples of HeapProbe.ts can miss one). Where that reset is refused, `VmRSS` is polled every 50 ms instead; -1
 * without /proc.
 */
export const watchPeakRss = async (pid: number | undefined): Promise<() => Promise<number>> => {
  const statusKb = async (field: "VmHWM" | "VmRSS"): Promise<number> => {
    const text = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "")
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)
    return m === null ? -1 : Number(m[1]) * 1024
  }
  if (pid === undefined) return () => Promise.resolve(-1)
  const reset = await writeFile(`/proc/${pid}/clear_refs`, "5").then(
    () => true,
    () => false
  )
  if (reset) return () => statusKb("VmHWM")
  let peak = await statusKb("VmRSS")
  const timer = setInterval(() => {
    void statusKb("VmRSS").then((rss) => {
      peak = Math.max(peak, rss)
    })
  }, 50)
  return async () => {
    clearInterval(timer)
    return Math.max(peak, await statusKb("VmRSS"))
  }
}
