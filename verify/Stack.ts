/**
 * The system under test: the suite's PostgreSQL (statement log on) and Redis, migrations applied once, then the
 * `api` role and the `worker,scheduler` roles as separate child processes with the settings the suite needs.
 */
import { randomBytes } from "node:crypto"
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import { AppProcess } from "./Children.js"
import { type PgControl, setStatementLogging } from "./Postgres.js"
import { freePort, RedisServer } from "./Redis.js"

export interface Stack {
  readonly pg: PgControl
  readonly redis: RedisServer
  readonly api: AppProcess
  readonly worker: AppProcess
  readonly apiBase: string
  readonly env: NodeJS.ProcessEnv
  /** Secrets of the deployment itself, searched for in every capture by the secrets check. */
  readonly deploymentSecrets: ReadonlyArray<string>
  readonly dir: string
}

export interface StackOptions {
  readonly pg: PgControl
  readonly dir: string
  readonly heapProbe: boolean
}

export const startStack = async (options: StackOptions): Promise<Stack> => {
  await mkdir(options.dir, { recursive: true })
  await setStatementLogging(options.pg.url, "all")
  const redis = await RedisServer.start(join(options.dir, "redis"))
  const port = await freePort()
  const secretKey = randomBytes(32).toString("hex")
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    THREADLINE_ENV: "development",
    DATABASE_URL: options.pg.appUrl,
    DATABASE_OWNER_URL: options.pg.url,
    REDIS_URL: redis.url,
    PORT: String(port),
    HOST: "127.0.0.1",
    THREADLINE_SECRET_KEY: secretKey,
    LOG_LEVEL: "Info",
    // both processes migrate at start (advisory lock): one process start-up less than a separate `migrate`
    THREADLINE_MIGRATE_ON_START: "true",
    THREADLINE_ALLOW_PRIVATE_WEBHOOKS: "true",
    THREADLINE_ALERT_TICK_SECONDS: "2",
    THREADLINE_SHUTDOWN_TIMEOUT_MS: "15000",
    THREADLINE_SECURE_COOKIES: "false",
    // the soak and the memory run are load, not abuse: limits far above what they send
    THREADLINE_RATE_LIMIT_ORG_PER_MINUTE: "100000000",
    THREADLINE_RATE_LIMIT_KEY_PER_MINUTE: "100000000",
    THREADLINE_RATE_LIMIT_QUERIES_PER_MINUTE: "100000000",
    // every seeded user registers and logs in from 127.0.0.1
    THREADLINE_AUTH_ATTEMPTS_PER_IP: "100000",
    THREADLINE_OUTBOUND_TIMEOUT_MS: "10000",
    DATABASE_POOL_SIZE: "10"
  }
  const probe = ["--expose-gc", "--import", import.meta.resolve("./HeapProbe.ts")]
  const api = new AppProcess({
    name: "api",
    roles: "api",
    env: { ...env, VERIFY_HEAP_FILE: join(options.dir, "heap.jsonl") },
    logDir: options.dir,
    nodeFlags: options.heapProbe ? probe : []
  })
  const worker = new AppProcess({ name: "worker", roles: "worker,scheduler", env, logDir: options.dir })
  await Promise.all([api.start(), worker.start()])
  return {
    pg: options.pg,
    redis,
    api,
    worker,
    apiBase: `http://127.0.0.1:${port}`,
    env,
    deploymentSecrets: [secretKey],
    dir: options.dir
  }
}

export const stopStack = async (stack: Stack): Promise<void> => {
  await Promise.all([stack.api.stop("SIGTERM"), stack.worker.stop("SIGTERM")])
  await stack.redis.stop()
}
