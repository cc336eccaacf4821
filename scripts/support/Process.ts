/**
 * Small process helpers for the dev scripts: run a command to completion, look a binary up on a PATH, probe a pid.
 */
import { execFile } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { Data, Effect, Option } from "effect"

/** Everything that makes a script give up; `message` is printed as is, so it says what to do next. */
export class ScriptError extends Data.TaggedError("ScriptError")<{ readonly message: string }> {}

export interface ExecOptions {
  readonly env?: NodeJS.ProcessEnv
  /** Run as another user (root only): Postgres refuses to run as root. */
  readonly user?: { readonly uid: number; readonly gid: number }
  readonly cwd?: string
}

/** Runs `file args` to completion and returns its stdout; fails with the command line and its output. */
export const exec = (file: string, args: ReadonlyArray<string>, options: ExecOptions = {}) =>
  Effect.async<string, ScriptError>((resume) => {
    const child = execFile(
      file,
      args,
      {
        env: options.env ?? process.env,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
        maxBuffer: 16 * 1024 * 1024
      },
      (error, stdout, stderr) => {
        if (error === null) return resume(Effect.succeed(stdout))
        const output = `${stdout}${stderr}`.trim()
        resume(
          Effect.fail(new ScriptError({ message: `${file} ${args.join(" ")} failed: ${error.message}\n${output}` }))
        )
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The first executable named `name` in the PATH of `env` (and then in `extra` directories). */
export const which = (
  name: string,
  env: NodeJS.ProcessEnv,
  extra: ReadonlyArray<string> = []
): Option.Option<string> => {
  const dirs = [...(env.PATH ?? "").split(delimiter).filter((d) => d.length > 0), ...extra]
  for (const dir of dirs) {
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return Option.some(candidate)
    } catch {
      // not here; keep looking
    }
  }
  return Option.none()
}

export const isRoot = (): boolean => process.getuid?.() === 0
