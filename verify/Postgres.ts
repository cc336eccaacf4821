/**
 * Control of the suite's own PostgreSQL: statement logging to the server's log file (every statement, with a prefix
 * that attributes each line to a session and a virtual transaction), and stop/start for the outage fault.
 * The cluster itself is started by scripts/services.ts (throwaway); we only reconfigure and bounce it.
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import pg from "pg"

export interface PgControl {
  /** The superuser (owner): reconfiguration, checks, and the app's DATABASE_OWNER_URL. */
  readonly url: string
  /** The app login `threadline_app`: the app's DATABASE_URL. */
  readonly appUrl: string
  readonly port: number
  readonly dataDir: string
  readonly pgCtl: string
  readonly user: { readonly uid: number; readonly gid: number } | undefined
}

/** `%m|%p|%c|%v|%u|` : time, pid, session id, virtual transaction id, role. Parsed by StatementLog.ts. */
export const LINE_PREFIX = "%m|%p|%c|%v|%u| "

export const logFile = (control: PgControl): string => join(control.dataDir, "server.log")

export const query = async <T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: ReadonlyArray<unknown> = []
): Promise<Array<T>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    // marked, so the correlation pass can tell the suite's own statements from the application's
    return (await client.query<T>(`/*verify*/ ${text}`, [...values])).rows
  } finally {
    await client.end()
  }
}

/** log_statement is reloadable: no restart. `level` "none" turns it off for the memory phase. */
export const setStatementLogging = async (url: string, level: "all" | "none"): Promise<void> => {
  await query(url, `ALTER SYSTEM SET log_statement = '${level}'`)
  await query(url, `ALTER SYSTEM SET log_line_prefix = '${LINE_PREFIX}'`)
  await query(url, "ALTER SYSTEM SET log_parameter_max_length = -1")
  await query(url, "ALTER SYSTEM SET log_min_messages = 'warning'")
  await query(url, "SELECT pg_reload_conf()")
  // pg_reload_conf only signals; wait until a new session sees the value
  for (let i = 0; i < 50; i++) {
    const rows = await query<{ log_statement: string }>(url, "SHOW log_statement")
    if (rows[0]?.log_statement === level) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`log_statement did not become ${level}`)
}

const run = (control: PgControl, args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) => {
    execFile(
      control.pgCtl,
      [...args],
      { ...(control.user === undefined ? {} : { uid: control.user.uid, gid: control.user.gid }) },
      (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)))
    )
  })

/** Fast shutdown: open sessions are terminated, as in a crash of the database host's service. */
export const stopPostgres = (control: PgControl) =>
  run(control, ["stop", "-D", control.dataDir, "-m", "fast", "-w", "-t", "60", "-s"])

/** Same flags as scripts/support/Postgres.ts (throwaway), same port and log file; ALTER SYSTEM settings persist. */
export const startPostgres = (control: PgControl) =>
  run(control, [
    "start",
    "-D",
    control.dataDir,
    "-l",
    logFile(control),
    "-w",
    "-t",
    "60",
    "-s",
    "-o",
    [
      `-p ${control.port}`,
      "-c listen_addresses=127.0.0.1",
      "-c unix_socket_directories=''",
      "-c max_connections=300",
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off"
    ].join(" ")
  ])
