/**
 * An embedded PostgreSQL for development and tests: initialised on first use, started with pg_ctl (which detaches
 * it into its own session, so a terminal Ctrl-C reaches only our script, which then stops it last), reused when an
 * instance is already running on the same data directory, and stopped at scope end only if we started it.
 */
import { createHash, randomBytes } from "node:crypto"
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Effect, Option, Schedule } from "effect"
import pg from "pg"
import { freePort, portOpen } from "./Network.js"
import { withFileLock } from "./Lock.js"
import { displayVersion, type PostgresBinaries, PostgresBinaries as Binaries, reachable } from "./PostgresBinaries.js"
import { exec, isAlive, ScriptError } from "./Process.js"

export interface PostgresOptions {
  /** PGDATA; created when missing. */
  readonly dataDir: string
  /** Throwaway clusters trade durability for speed (fsync off) and are never reused. */
  readonly throwaway: boolean
  readonly log: (line: string) => void
}

export interface PostgresInstance {
  /** Superuser URL to the `postgres` database: the owner (migrations, the bypass). */
  readonly url: string
  /** The application's login `threadline_app` (LOGIN NOINHERIT, owns nothing) to the same database. */
  readonly appUrl: string
  readonly port: number
  readonly origin: "started" | "reused"
  readonly dataDir: string
}

const PASSWORD = "postgres"
const urlFor = (port: number) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`
/** The app login and its password on an embedded (loopback, development) cluster; a deployment sets its own. */
export const APP_LOGIN = "threadline_app"
const APP_PASSWORD = "threadline_app"
const appUrlFor = (port: number) => `postgres://${APP_LOGIN}:${APP_PASSWORD}@127.0.0.1:${port}/postgres`

/**
 * Creates the app login on the cluster (or makes the existing role one), with the development password; the
 * migrations then strip it of any privilege and membership (0014). Idempotent; roles are cluster-wide.
 */
export const ensureAppLogin = (superuserUrl: string, password = APP_PASSWORD) =>
  Effect.tryPromise({
    try: async () => {
      const client = new pg.Client({ connectionString: superuserUrl })
      await client.connect()
      try {
        const literal = client.escapeLiteral(password)
        await client.query(`DO $$
          BEGIN
            CREATE ROLE ${APP_LOGIN} LOGIN NOINHERIT PASSWORD ${literal};
          EXCEPTION WHEN duplicate_object OR unique_violation THEN
            ALTER ROLE ${APP_LOGIN} LOGIN NOINHERIT PASSWORD ${literal};
          END $$`)
      } finally {
        await client.end()
      }
    },
    catch: (e) => new ScriptError({ message: `cannot create the app login ${APP_LOGIN}: ${String(e)}` })
  })

interface Postmaster {
  readonly pid: number
  readonly port: number
  readonly status: string
}

/** postmaster.pid: line 1 pid, line 4 port, line 8 status ("starting", "ready", "stopping"). */
const readPostmaster = (dataDir: string) =>
  Effect.promise(() =>
    readFile(join(dataDir, "postmaster.pid"), "utf8").then(
      (text): Option.Option<Postmaster> => {
        const lines = text.split("\n")
        const pid = Number.parseInt(lines[0] ?? "", 10)
        const port = Number.parseInt(lines[3] ?? "", 10)
        return Number.isNaN(pid) || Number.isNaN(port)
          ? Option.none()
          : Option.some({ pid, port, status: (lines[7] ?? "").trim() })
      },
      () => Option.none()
    )
  )

/** The instance already serving this data directory, if any (waits for one that is still starting). */
const running = (dataDir: string) =>
  readPostmaster(dataDir).pipe(
    Effect.flatMap((pm) => {
      if (Option.isNone(pm) || !isAlive(pm.value.pid)) return Effect.succeed(Option.none<Postmaster>())
      if (pm.value.status !== "ready") return Effect.fail("starting" as const)
      return Effect.map(portOpen(pm.value.port), (open) => (open ? pm : Option.none<Postmaster>()))
    }),
    Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 }),
    Effect.orElseSucceed(() => Option.none<Postmaster>())
  )

const initdb = (bins: PostgresBinaries, options: PostgresOptions) =>
  Effect.gen(function* () {
    const owned = yield* Effect.promise(() =>
      stat(join(options.dataDir, "PG_VERSION")).then(
        () => true,
        () => false
      )
    )
    if (owned) return
    options.log(`initialising ${displayVersion(bins.version)} in ${options.dataDir}`)
    const pwfile = join(tmpdir(), `threadline-pw-${randomBytes(6).toString("hex")}`)
    yield* Effect.acquireUseRelease(
      Effect.promise(async () => {
        await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
        await chmod(options.dataDir, 0o700)
        await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 })
        if (bins.user !== undefined) {
          await chown(options.dataDir, bins.user.uid, bins.user.gid)
          await chown(pwfile, bins.user.uid, bins.user.gid)
        }
      }),
      () =>
        exec(
          bins.initdb,
          [
            `--pgdata=${options.dataDir}`,
            "--auth=scram-sha-256",
            "--username=postgres",
            `--pwfile=${pwfile}`,
            "--encoding=UTF8",
            "--no-locale",
            ...(options.throwaway ? ["--no-sync"] : [])
          ],
          { env: { ...process.env, LC_ALL: "C" }, ...(bins.user === undefined ? {} : { user: bins.user }) }
        ),
      () => Effect.promise(() => rm(pwfile, { force: true }))
    )
  })

const serverFlags = (port: number, throwaway: boolean): string =>
  [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    // TCP only: no socket file in /tmp to collide with another cluster or a system Postgres.
    "-c unix_socket_directories=''",
    "-c max_connections=300",
    ...(throwaway ? ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"] : [])
  ].join(" ")

const logTail = (dataDir: string) =>
  Effect.promise(() =>
    readFile(join(dataDir, "server.log"), "utf8").then(
      (t) => t.trim().split("\n").slice(-15).join("\n"),
      () => ""
    )
  )

/** pg_ctl start on a free port; another process can take the port between our probe and the bind, so retry. */
const start = (bins: PostgresBinaries, options: PostgresOptions) =>
  Effect.gen(function* () {
    const as = bins.user === undefined ? {} : { user: bins.user }
    for (let attempt = 1; ; attempt++) {
      const port = yield* freePort
      const log = join(options.dataDir, "server.log")
      const args = [
        "start",
        "-D",
        options.dataDir,
        "-l",
        log,
        "-w",
        "-t",
        "60",
        "-s",
        "-o",
        serverFlags(port, options.throwaway)
      ]
      const started = yield* exec(bins.pgCtl, args, as).pipe(Effect.either)
      if (started._tag === "Right") return port
      const tail = yield* logTail(options.dataDir)
      if (attempt < 3 && tail.includes("already in use")) continue
      return yield* new ScriptError({ message: `PostgreSQL did not start (${started.left.message})\n${tail}` })
    }
  })

const stop = (bins: PostgresBinaries, dataDir: string) =>
  exec(bins.pgCtl, ["stop", "-D", dataDir, "-m", "fast", "-w", "-t", "60", "-s"], {
    ...(bins.user === undefined ? {} : { user: bins.user })
  }).pipe(Effect.asVoid)

/** Last resort when the process exits without running finalizers: ask the postmaster for a fast shutdown. */
const exitHook = (pid: number) => () => {
  if (isAlive(pid)) process.kill(pid, "SIGINT")
}

/**
 * As root, Postgres runs as `postgres`, which must be able to enter the data directory's parent; a checkout under
 * a private home (e.g. /root, mode 700) is not enterable, so its cluster lives under /var/tmp instead.
 */
const usableDataDir = (bins: PostgresBinaries, options: PostgresOptions) =>
  Effect.gen(function* () {
    if (yield* reachable(bins.user, [dirname(options.dataDir)])) return options.dataDir
    const key = createHash("sha256").update(options.dataDir).digest("hex").slice(0, 12)
    const parent = `/var/tmp/threadline-data-${key}`
    yield* Effect.promise(() => mkdir(parent, { recursive: true, mode: 0o755 }))
    options.log(`the postgres user cannot enter ${dirname(options.dataDir)}; keeping the cluster in ${parent}/postgres`)
    return join(parent, "postgres")
  })

const launch = (bins: PostgresBinaries, options: PostgresOptions) =>
  Effect.gen(function* () {
    if (!options.throwaway) {
      const existing = yield* running(options.dataDir)
      if (Option.isSome(existing)) {
        const { port } = existing.value
        options.log(`reusing the PostgreSQL already running on ${options.dataDir} (port ${port}); it stays running`)
        yield* ensureAppLogin(urlFor(port))
        return {
          url: urlFor(port),
          appUrl: appUrlFor(port),
          port,
          origin: "reused",
          dataDir: options.dataDir
        } satisfies PostgresInstance
      }
    }
    yield* initdb(bins, options)
    const port = yield* Effect.acquireRelease(start(bins, options), (port) =>
      stop(bins, options.dataDir).pipe(
        Effect.tap(() => options.log(`stopped PostgreSQL on port ${port}`)),
        Effect.catchAll((e) => Effect.sync(() => options.log(e.message)))
      )
    )
    const pm = yield* readPostmaster(options.dataDir)
    if (Option.isSome(pm)) {
      const hook = exitHook(pm.value.pid)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("exit", hook)),
        () => Effect.sync(() => process.off("exit", hook))
      )
    }
    yield* ensureAppLogin(urlFor(port))
    options.log(`started ${displayVersion(bins.version)} on 127.0.0.1:${port} (data ${options.dataDir})`)
    return {
      url: urlFor(port),
      appUrl: appUrlFor(port),
      port,
      origin: "started",
      dataDir: options.dataDir
    } satisfies PostgresInstance
  })

export const ensurePostgres = (options: PostgresOptions) =>
  Effect.gen(function* () {
    const bins = yield* Binaries
    yield* Effect.promise(() => mkdir(dirname(options.dataDir), { recursive: true }))
    const dataDir = yield* usableDataDir(bins, options)
    const resolved = { ...options, dataDir }
    if (resolved.throwaway) {
      // Registered before the server starts, so it runs after the server has stopped.
      yield* Effect.addFinalizer(() => Effect.promise(() => rm(dataDir, { recursive: true, force: true })))
    }
    // Throwaway clusters live in a fresh directory of their own: nobody to race with.
    return yield* resolved.throwaway ? launch(bins, resolved) : withFileLock(`${dataDir}.lock`, launch(bins, resolved))
  })
