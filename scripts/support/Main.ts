/**
 * The edge of every script: runs its program, turns the first SIGINT/SIGTERM/SIGHUP into a shutdown request the
 * program forwards to its child, and exits with the program's code.
 *
 * Our listeners stay installed until the end, so the duplicate signals that npm and tsx relay (a terminal Ctrl-C
 * reaches every process of the foreground group) never kill this process while it is still cleaning up.
 */
import { spawn } from "node:child_process"
import { constants } from "node:os"
import { Cause, Deferred, Effect, Exit, FiberId, type Scope } from "effect"
import { ScriptError } from "./Process.js"

export type Shutdown = Deferred.Deferred<NodeJS.Signals>

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const

const signalCode = (signal: NodeJS.Signals): number => 128 + (constants.signals[signal] ?? 1)

export const runScript = (program: (shutdown: Shutdown) => Effect.Effect<number, ScriptError, Scope.Scope>): void => {
  const shutdown = Deferred.unsafeMake<NodeJS.Signals>(FiberId.none)
  const onSignal = (signal: NodeJS.Signals) => Deferred.unsafeDone(shutdown, Exit.succeed(signal))
  for (const s of SIGNALS) process.on(s, onSignal)
  const main = Effect.scoped(program(shutdown)).pipe(
    Effect.catchTag("ScriptError", (e) =>
      Effect.sync(() => {
        process.stderr.write(`\n${e.message}\n`)
        return 1
      })
    )
  )
  Effect.runFork(main).addObserver((exit) => {
    if (Exit.isFailure(exit)) process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
    process.exitCode = Exit.isSuccess(exit) ? exit.value : 1
    for (const s of SIGNALS) process.off(s, onSignal)
    // Normally nothing is left and the process ends by itself; this only bounds a stray handle.
    setTimeout(() => process.exit(), 5_000).unref()
  })
}

/** Fails (exit code 1) if a shutdown signal arrives first: for work done before the child starts. */
export const unlessShutdown = <A, R>(shutdown: Shutdown, effect: Effect.Effect<A, ScriptError, R>) =>
  Effect.raceFirst(
    effect,
    Deferred.await(shutdown).pipe(
      Effect.flatMap((signal) =>
        Effect.fail(new ScriptError({ message: `stopped by ${signal} before start-up finished` }))
      )
    )
  )

export interface ChildSpec {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: NodeJS.ProcessEnv
  /** How long the child may take to exit after the forwarded signal before it is killed. */
  readonly graceMs: number
  /** The signal the child gets on shutdown; default: SIGINT for SIGINT, SIGTERM otherwise (SIGHUP included). */
  readonly forwardAs?: NodeJS.Signals
}

/**
 * Runs the child to completion and returns its exit code. The child gets its own process group, so only the signal
 * we forward reaches it (once); if it outlives `graceMs` after that, its whole group is killed.
 */
export const runChild = (spec: ChildSpec, shutdown: Shutdown) =>
  Effect.gen(function* () {
    const exited = yield* Deferred.make<number>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(spec.command, [...spec.args], { env: spec.env, stdio: ["ignore", "inherit", "inherit"], detached: true })
      ),
      (c) => Effect.sync(() => c.exitCode === null && c.signalCode === null && killGroup(c.pid, "SIGKILL"))
    )
    child.on("exit", (code, signal) =>
      Deferred.unsafeDone(exited, Exit.succeed(code ?? (signal === null ? 1 : signalCode(signal))))
    )
    child.on("error", (e) => {
      process.stderr.write(`could not run ${spec.command}: ${e.message}\n`)
      Deferred.unsafeDone(exited, Exit.succeed(127))
    })
    const forward = Deferred.await(shutdown).pipe(
      Effect.tap((signal) =>
        Effect.sync(() => child.kill(spec.forwardAs ?? (signal === "SIGINT" ? "SIGINT" : "SIGTERM")))
      ),
      Effect.zipRight(Effect.sleep(spec.graceMs)),
      Effect.tap(() =>
        Effect.sync(() => {
          process.stderr.write(`${spec.command} did not exit within ${spec.graceMs} ms; killing it\n`)
          killGroup(child.pid, "SIGKILL")
        })
      ),
      Effect.zipRight(Effect.never)
    )
    return yield* Effect.raceFirst(Deferred.await(exited), forward)
  })

const killGroup = (pid: number | undefined, signal: NodeJS.Signals): void => {
  if (pid === undefined) return
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}
