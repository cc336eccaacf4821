/**
 * Debian's `chromium` for the browser tests (driven by playwright-core, which downloads no browser). Installed with
 * apt-get when it is missing and we may (root with apt-get), as Redis is; otherwise we say what to run and go on:
 * the browser tests then fail with the same advice, and the rest of the suite runs.
 */
import { accessSync, constants } from "node:fs"
import { Effect, Option } from "effect"
import { exec, isRoot, which } from "./Process.js"

export const CHROMIUM_INSTALL_COMMAND = "apt-get update && apt-get install -y chromium"

/** Debian installs to /usr/bin; looked at after an install, and by the tests, in case PATH is unusual. */
const USUAL_DIRS = ["/usr/bin"]

/** `THREADLINE_TEST_CHROMIUM` when set (that file only), else `chromium` on the PATH or in /usr/bin. */
export const findChromium = (env: NodeJS.ProcessEnv): Option.Option<string> => {
  const explicit = env.THREADLINE_TEST_CHROMIUM
  if (explicit === undefined || explicit === "") return which("chromium", env, USUAL_DIRS)
  try {
    accessSync(explicit, constants.X_OK)
    return Option.some(explicit)
  } catch {
    return Option.none()
  }
}

/** What to tell someone who has no Chromium. */
export const chromiumAdvice = (env: NodeJS.ProcessEnv): string => {
  const sudo = isRoot() ? "" : "sudo "
  const explicit = env.THREADLINE_TEST_CHROMIUM
  return (
    (explicit !== undefined && explicit !== ""
      ? `THREADLINE_TEST_CHROMIUM=${explicit} is not an executable file.`
      : "chromium was not found on PATH.") +
    ` The browser tests need Debian's Chromium. Install it with:\n  ${sudo}apt-get update && ${sudo}apt-get install -y chromium\n` +
    "or set THREADLINE_TEST_CHROMIUM to a Chromium binary."
  )
}

export interface ChromiumOptions {
  /** Read for PATH and THREADLINE_TEST_CHROMIUM. */
  readonly env: NodeJS.ProcessEnv
  /** Default: stderr, prefixed `[test]`. */
  readonly log?: (line: string) => void
}

const defaultLog = (line: string) => {
  process.stderr.write(`[test] ${line}\n`)
}

/** The binary, installing Debian's package if we may; `None` (after saying what to do) when it cannot be had. */
export const ensureChromium = (options: ChromiumOptions): Effect.Effect<Option.Option<string>> =>
  Effect.gen(function* () {
    const log = options.log ?? defaultLog
    const found = findChromium(options.env)
    if (Option.isSome(found)) return found
    const aptGet = which("apt-get", options.env)
    const explicit = options.env.THREADLINE_TEST_CHROMIUM
    if ((explicit !== undefined && explicit !== "") || !isRoot() || Option.isNone(aptGet)) {
      log(chromiumAdvice(options.env))
      return Option.none()
    }
    log(`chromium is missing (the browser tests need it); running: ${CHROMIUM_INSTALL_COMMAND}`)
    const env = { ...options.env, DEBIAN_FRONTEND: "noninteractive" }
    // Uninterruptible: a killed dpkg leaves the package database locked. Another install in progress is waited for.
    const installed = yield* Effect.uninterruptible(
      exec(aptGet.value, ["update"], { env }).pipe(
        Effect.zipRight(
          exec(aptGet.value, ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "chromium"], {
            env
          })
        ),
        Effect.either
      )
    )
    if (installed._tag === "Left") {
      log(`${installed.left.message.trim().split("\n").slice(-10).join("\n")}\n${chromiumAdvice(options.env)}`)
      return Option.none()
    }
    const after = findChromium(options.env)
    if (Option.isNone(after)) log(`apt-get installed chromium but it is not on PATH or in /usr/bin`)
    return after
  })
