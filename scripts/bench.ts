/**
 * `npm run bench [-- name ...]`: throwaway Postgres and Redis (unless DATABASE_URL / REDIS_URL are set), then each
 * benchmark in bench/ in turn (or only the ones named, e.g. `context`); exits 1 if any fails. BENCH_SMOKE=1 runs
 * each at a tiny size (bench/smoke.ts), as CI does. A file that another bench file refers to by path (a shared
 * module, a server a benchmark spawns) is a helper, not a benchmark, and is not run on its own.
 */
import { readdir, readFile } from "node:fs/promises"
import { basename } from "node:path"
import { Deferred, Effect } from "effect"
import { acquireServices, ScriptError } from "./services.js"
import { runChild, runScript, unlessShutdown } from "./support/Main.js"
import { repoPath, tsxLoader } from "./support/Paths.js"

const benchmarks = Effect.promise(async () => {
  const dir = repoPath("bench")
  const files = (await readdir(dir)).filter((f) => f.endsWith(".ts") && !f.startsWith(".")).sort()
  const sources = await Promise.all(files.map((f) => readFile(`${dir}/${f}`, "utf8")))
  // Imported (`from "./logs-support.js"`) or spawned (`"bench/ingest.ts"`): a quoted path, not prose.
  const helper = (file: string) => {
    const base = basename(file, ".ts")
    const quoted = new RegExp(`["'](?:\\./|bench/)${base.replace(/[^\w-]/g, "\\$&")}\\.(?:js|ts)["']`)
    return sources.some((source, i) => files[i] !== file && quoted.test(source))
  }
  return { all: files, runnable: files.filter((f) => !helper(f)) }
})

const select = (requested: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const { all, runnable } = yield* benchmarks
    if (requested.length === 0) return runnable
    return yield* Effect.forEach(requested, (name) => {
      const file = `${basename(name, ".ts")}.ts`
      return all.includes(file)
        ? Effect.succeed(file)
        : Effect.fail(new ScriptError({ message: `no benchmark ${name}; bench/ has: ${runnable.join(", ")}` }))
    })
  })

runScript((shutdown) =>
  Effect.gen(function* () {
    const files = yield* select(process.argv.slice(2))
    const services = yield* unlessShutdown(
      shutdown,
      acquireServices({
        mode: "throwaway",
        dataDir: process.env.THREADLINE_DATA_DIR ?? ".data",
        // Benchmarks load millions of rows: keep them on disk under the data directory, not in a tmpfs /tmp.
        throwawayParent: `${process.env.THREADLINE_DATA_DIR ?? ".data"}/bench`,
        env: process.env
      })
    )
    const failed: Array<string> = []
    for (const file of files) {
      process.stderr.write(`\n=== bench/${file}\n`)
      const started = Date.now()
      const code = yield* runChild(
        {
          command: process.execPath,
          args: ["--import", tsxLoader(), repoPath(`bench/${file}`)],
          // the program alone defaults to production; benchmarks run in development unless told otherwise
          env: { THREADLINE_ENV: "development", ...process.env, ...services.env },
          graceMs: 10_000
        },
        shutdown
      )
      process.stderr.write(`=== bench/${file}: exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
      if (code !== 0) failed.push(`${file} (exit ${code})`)
      if (yield* Deferred.isDone(shutdown)) break
    }
    if (failed.length > 0) process.stderr.write(`\nfailed: ${failed.join(", ")}\n`)
    return failed.length === 0 ? 0 : 1
  })
)
