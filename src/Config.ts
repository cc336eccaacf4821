/**
 * Every setting, read once from the environment through `effect` Config, with defaults.
 * Secrets are `Redacted` so they never reach a log line by accident. The bare program is production: development
 * and test are chosen explicitly (the scripts set them), and production refuses to start without a strong key.
 */
import { createHash } from "node:crypto"
import { Config, ConfigError, Effect, Either, LogLevel, Option, Redacted } from "effect"

export const Environment = Config.literal(
  "development",
  "test",
  "production"
)("THREADLINE_ENV").pipe(Config.withDefault("production" as const))
export type Environment = "development" | "test" | "production"

/** An unset or empty variable is absent (`DATABASE_OWNER_URL=` in a shell or compose file). */
const optionalUrl = (name: string) =>
  Config.option(Config.redacted(name)).pipe(Config.map(Option.filter((url) => Redacted.value(url).trim() !== "")))

/**
 * The fixed key `npm start` uses in development so encrypted data survives restarts. Public, hence refused in
 * production like any other weak key.
 */
export const DEVELOPMENT_SECRET_KEY = createHash("sha256")
  .update("threadline development key (not a secret)")
  .digest("hex")

/** The bytes a THREADLINE_SECRET_KEY stands for: hex (even length) or base64/base64url; undefined if neither. */
export const decodeSecretKey = (text: string): Buffer | undefined => {
  const value = text.trim()
  if (/^(?:[0-9a-fA-F]{2})+$/.test(value)) return Buffer.from(value, "hex")
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return Buffer.from(value.replace(/=+$/, ""), "base64")
  return undefined
}

/** Distinct byte values a 32-byte key must have: random keys have about 30; patterns and repeats far fewer. */
const MIN_DISTINCT_BYTES = 16

/**
 * Why `text` is not a production key (undefined when it is one): it must decode (hex or base64) to at least 32
 * bytes that look random (at least 16 distinct byte values, so no repeated byte or short repeated pattern) and not
 * be the public development key.
 */
export const secretKeyProblem = (text: string): string | undefined => {
  const bytes = decodeSecretKey(text)
  if (bytes === undefined) return "is neither hex nor base64"
  if (bytes.length < 32) return `decodes to ${bytes.length} bytes; at least 32 are required`
  if (new Set(bytes).size < MIN_DISTINCT_BYTES) return "is not random (too few distinct byte values)"
  if (text.trim().toLowerCase() === DEVELOPMENT_SECRET_KEY) return "is the public development key"
  return undefined
}

/** A comma-separated list; empty entries are dropped. */
const list = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.map((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x.length > 0)
    )
  )

/** An absolute http(s) URL without a trailing slash. */
const publicUrl = Config.string("THREADLINE_PUBLIC_URL").pipe(
  Config.withDefault("http://localhost:8080"),
  Config.mapOrFail((raw) => {
    const url = URL.canParse(raw) ? new URL(raw) : undefined
    return url !== undefined && (url.protocol === "http:" || url.protocol === "https:") && url.search === ""
      ? Either.right(url.toString().replace(/\/+$/, ""))
      : Either.left(ConfigError.InvalidData([], "THREADLINE_PUBLIC_URL must be an http(s) URL without a query"))
  })
)

/**
 * What `threadline admin` needs, and nothing more (no secret key: it decrypts nothing): DATABASE_URL, else the
 * development server's app login (src/Sql/Client.ts), and the statement timeout.
 */
export const AdminDatabaseConfig = Config.all({
  databaseUrl: optionalUrl("DATABASE_URL"),
  statementTimeoutMs: Config.integer("DATABASE_STATEMENT_TIMEOUT_MS").pipe(Config.withDefault(30_000))
})

export class AppConfig extends Effect.Service<AppConfig>()("Config/AppConfig", {
  effect: Effect.gen(function* () {
    const env = yield* Environment
    const secretKey = yield* Config.option(Config.redacted("THREADLINE_SECRET_KEY"))
    if (env === "production") {
      if (Option.isNone(secretKey)) {
        return yield* Effect.dieMessage(
          "THREADLINE_SECRET_KEY is required in production (THREADLINE_ENV defaults to production; set " +
            "THREADLINE_ENV=development for local work): generate one with `openssl rand -hex 32`"
        )
      }
      const problem = secretKeyProblem(Redacted.value(secretKey.value))
      if (problem !== undefined) {
        return yield* Effect.dieMessage(
          `THREADLINE_SECRET_KEY ${problem}: production needs 32 random bytes, e.g. \`openssl rand -hex 32\``
        )
      }
    }
    return {
      env,
      port: yield* Config.port("PORT").pipe(Config.withDefault(8080)),
      host: yield* Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
      databaseUrl: yield* optionalUrl("DATABASE_URL"),
      /** The table owner: migrations and `Tenant.bypass`; DATABASE_URL (or the development server) when unset. */
      databaseOwnerUrl: yield* optionalUrl("DATABASE_OWNER_URL"),
      databaseReadUrl: yield* optionalUrl("DATABASE_READ_URL"),
      databasePoolSize: yield* Config.integer("DATABASE_POOL_SIZE").pipe(Config.withDefault(10)),
      /** The read pool (searches, statistics) is always its own, so reads cannot take the writes' connections. */
      databaseReadPoolSize: yield* Config.integer("DATABASE_READ_POOL_SIZE").pipe(Config.withDefault(5)),
      /** The owner pool serves only migrations at start-up and the audited bypass (system jobs). */
      databaseOwnerPoolSize: yield* Config.integer("DATABASE_OWNER_POOL_SIZE").pipe(Config.withDefault(2)),
      statementTimeoutMs: yield* Config.integer("DATABASE_STATEMENT_TIMEOUT_MS").pipe(Config.withDefault(30_000)),
      migrateOnStart: yield* Config.boolean("THREADLINE_MIGRATE_ON_START").pipe(Config.withDefault(true)),
      redisUrl: yield* Config.redacted("REDIS_URL").pipe(Config.withDefault(Redacted.make("redis://127.0.0.1:6379"))),
      dataDir: yield* Config.string("THREADLINE_DATA_DIR").pipe(Config.withDefault(".data")),
      /** 32 bytes (hex or base64) for AES-256-GCM of webhook secrets; development falls back to a fixed dev key. */
      secretKey,
      logLevel: yield* Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info)),
      corsOrigins: yield* list("THREADLINE_CORS_ORIGINS"),
      // API.md: Secure unless configured off (THREADLINE_SECURE_COOKIES=false) for local development over http
      secureCookies: yield* Config.boolean("THREADLINE_SECURE_COOKIES").pipe(Config.withDefault(true)),
      sessionTtlSeconds: yield* Config.integer("THREADLINE_SESSION_TTL_SECONDS").pipe(Config.withDefault(7 * 86_400)),
      allowPrivateWebhooks: yield* Config.boolean("THREADLINE_ALLOW_PRIVATE_WEBHOOKS").pipe(Config.withDefault(false)),
      alertTickSeconds: yield* Config.integer("THREADLINE_ALERT_TICK_SECONDS").pipe(Config.withDefault(60)),
      shutdownTimeoutMs: yield* Config.integer("THREADLINE_SHUTDOWN_TIMEOUT_MS").pipe(Config.withDefault(10_000)),
      queuePrefix: yield* Config.string("THREADLINE_QUEUE_PREFIX").pipe(Config.withDefault("threadline")),
      /** Where users reach the console: invitation accept links are `<publicUrl>/invitations/accept#token=…`. */
      publicUrl: yield* publicUrl,
      invitationTtlSeconds: yield* Config.integer("THREADLINE_INVITATION_TTL_SECONDS").pipe(
        Config.withDefault(7 * 86_400),
        Config.validate({ message: "must be at least 60", validation: (n) => n >= 60 })
      ),
      /** `smtp://` or `smtps://` URL (credentials inside); unset: invitation links are not mailed. */
      smtpUrl: yield* optionalUrl("THREADLINE_SMTP_URL"),
      smtpFrom: yield* Config.string("THREADLINE_SMTP_FROM").pipe(Config.withDefault("Threadline <no-reply@localhost>"))
    } as const
  })
}) {}
