/**
 * Threadline as child processes, one per role set, exactly as README's container command runs it
 * (`node --import tsx src/main.ts serve --roles …`). stdout (the JSON log lines, access log included) and stderr go
 * straight to files through inherited descriptors, so lines written just before a SIGKILL are kept.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("..", import.meta.url))
const tsx = import.meta.resolve("tsx")

export interface ChildSpec {
  readonly name: string
  readonly roles: string
  readonly env: NodeJS.ProcessEnv
  readonly logDir: string
  /** Extra node flags before the entry (e.g. the heap probe preload). */
  readonly nodeFlags?: ReadonlyArray<string>
  readonly port?: number
}

export class AppProcess {
  private child: ChildProcess | undefined
  private generation = 0
  readonly logFiles: Array<string> = []
  constructor(readonly spec: ChildSpec) {}

  get pid(): number | undefined {
    return this.child?.pid
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Starts the process (a new generation gets new log files) and waits until it logs "threadline ready". */
  async start(): Promise<void> {
    this.generation++
    const out = join(this.spec.logDir, `${this.spec.name}.${this.generation}.stdout.jsonl`)
    const err = join(this.spec.logDir, `${this.spec.name}.${this.generation}.stderr.log`)
    this.logFiles.push(out)
    const outFd = openSync(out, "a")
    const errFd = openSync(err, "a")
    const args = [
      "--import",
      tsx,
      ...(this.spec.nodeFlags ?? []),
      join(repoRoot, "src/main.ts"),
      "serve",
      "--roles",
      this.spec.roles
    ]
    this.child = spawn(process.execPath, args, { cwd: repoRoot, env: this.spec.env, stdio: ["ignore", outFd, errFd] })
    closeSync(outFd)
    closeSync(errFd)
    const child = this.child
    const deadline = Date.now() + 90_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break
      const text = await readFile(out, "utf8").catch(() => "")
      if (text.includes('"threadline ready"')) return
      await new Promise((r) => setTimeout(r, 200))
    }
    const tail = await readFile(err, "utf8").catch(() => "")
    throw new Error(`${this.spec.name} did not become ready:\n${tail.split("\n").slice(-30).join("\n")}`)
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`); returns the exit code or signal. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 30_000): Promise<number | string> {
    const child = this.child
    if (child === undefined) return "not started"
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode ?? "?"
    const exited = new Promise<number | string>((r) => child.once("exit", (code, sig) => r(code ?? sig ?? "?")))
    child.kill(signal)
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    const result = await exited
    clearTimeout(timer)
    return result
  }
}

/** Every JSON line of the files (lines that are not JSON, e.g. a stack trace, are returned apart). */
export const readJsonLines = async (
  files: ReadonlyArray<string>
): Promise<{ lines: Array<Record<string, unknown>>; other: Array<string> }> => {
  const lines: Array<Record<string, unknown>> = []
  const other: Array<string> = []
  for (const file of files) {
    const text = await readFile(file, "utf8").catch(() => "")
    for (const raw of text.split("\n")) {
      if (raw.trim() === "") continue
      try {
        lines.push(JSON.parse(raw) as Record<string, unknown>)
      } catch {
        other.push(raw)
      }
    }
  }
  return { lines, other }
}
