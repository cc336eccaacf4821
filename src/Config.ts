/**
 * Every setting, read once from the environment through `effect` Config, with defaults.
 * Secrets are `Redacted` so they never reach a log line by accident.
 */
import { Config, ConfigError, Effect, Either, LogLevel, Option, Redacted } from "effect"

export const Environment = Config.literal(
  "development",
  "test",
  "production"
)("THREADLINE_ENV").pipe(Config.withDefault("development" as const))
export type Environment = "development" | "test" | "production"

const optionalUrl = (name: string) => Config.option(Config.redacted(name))

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

export class AppConfig extends Effect.Service<AppConfig>()("Config/AppConfig", {
  effect: Effect.gen(function* () {
    const env = yield* Environment
    const secretKey = yield* Config.option(Config.redacted("THREADLINE_SECRET_KEY"))
    if (env === "production" && Option.isNone(secretKey)) {
      return yield* Effect.dieMessage("THREADLINE_SECRET_KEY is required when THREADLINE_ENV=production")
    }
    return {
      env,
      port: yield* Config.port("PORT").pipe(Config.withDefault(8080)),
      host: yield* Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
      databaseUrl: yield* optionalUrl("DATABASE_URL"),
      databaseReadUrl: yield* optionalUrl("DATABASE_READ_URL"),
      databasePoolSize: yield* Config.integer("DATABASE_POOL_SIZE").pipe(Config.withDefault(10)),
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
      /** Where users reach the console: invitation accept links are `<publicUrl>/invitations/accept?token=…`. */
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
