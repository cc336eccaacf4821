/**
 * Preloaded into the API child (`node --expose-gc --import verify/HeapProbe.ts`) when the memory phase runs: every
 * VERIFY_HEAP_INTERVAL_MS it forces a full GC and appends `{t, heapUsed, rss, external}` to VERIFY_HEAP_FILE.
 * A forced GC before each sample measures what is still reachable (a leak), not where the collector happens to be.
 * The app has no metrics endpoint; this keeps the measurement outside src/ and costs one GC per interval.
 */
import { appendFileSync } from "node:fs"

const file = process.env.VERIFY_HEAP_FILE
const interval = Number(process.env.VERIFY_HEAP_INTERVAL_MS ?? "2000")
const gc = (globalThis as { gc?: () => void }).gc

if (file !== undefined && file !== "") {
  setInterval(() => {
    gc?.()
    const m = process.memoryUsage()
    appendFileSync(
      file,
      JSON.stringify({ t: Date.now(), heapUsed: m.heapUsed, rss: m.rss, external: m.external, gc: gc !== undefined }) +
        "\n"
    )
  }, interval).unref()
}
