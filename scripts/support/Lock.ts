/**
 * A lock file between our own scripts (two `npm start` at once on one data directory must not both run initdb or
 * start two servers on it). The file holds the owner's pid, so a lock left by a killed process is taken over.
 */
import { open, readFile, rm } from "node:fs/promises"
import { Effect, Schedule } from "effect"
import { isAlive, ScriptError } from "./Process.js"

const tryAcquire = (file: string) =>
  Effect.tryPromise({
    try: async () => {
      const handle = await open(file, "wx")
      await handle.writeFile(String(process.pid))
      await handle.close()
    },
    catch: (e) => e as NodeJS.ErrnoException
  }).pipe(
    Effect.catchAll((e) =>
      Effect.gen(function* () {
        if (e.code !== "EEXIST") {
          return yield* Effect.die(e)
        }
        const owner = yield* Effect.promise(() => readFile(file, "utf8").catch(() => ""))
        const pid = Number.parseInt(owner, 10)
        // Not yet written (the owner is between open and write) or held by a live process: wait.
        if (Number.isNaN(pid) || isAlive(pid)) return yield* Effect.fail("held" as const)
        yield* Effect.promise(() => rm(file, { force: true }))
        return yield* Effect.fail("stale" as const)
      })
    )
  )

export const withFileLock = <A, E, R>(file: string, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    tryAcquire(file).pipe(
      Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 600 }),
      Effect.mapError(
        () => new ScriptError({ message: `${file} is held by another process; remove it if that process is gone` })
      )
    ),
    () => effect,
    () => Effect.promise(() => rm(file, { force: true }))
  )
