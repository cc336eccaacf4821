/**
 * The environment default and the production key check of src/Config.ts, without a process around them
 * (test/main/Startup.test.ts runs the bare program).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { AppConfig, DEVELOPMENT_SECRET_KEY, secretKeyProblem } from "../src/Config.js"

const load = (env: Record<string, string>) =>
  Effect.exit(
    Effect.provide(
      AppConfig,
      AppConfig.Default.pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
      )
    )
  )

describe("AppConfig", () => {
  it.effect("THREADLINE_ENV defaults to production, which needs a key", () =>
    Effect.gen(function* () {
      const none = yield* load({})
      expect(Exit.isFailure(none) && Cause.pretty(none.cause)).toContain(
        "THREADLINE_SECRET_KEY is required in production"
      )
      const key = randomBytes(32).toString("hex")
      const strong = yield* load({ THREADLINE_SECRET_KEY: key })
      expect(Exit.isSuccess(strong) && strong.value.env).toBe("production")
      const dev = yield* load({ THREADLINE_ENV: "development" })
      expect(Exit.isSuccess(dev) && dev.value.env).toBe("development")
    })
  )

  it("a production key is 32 random bytes, hex or base64", () => {
    expect(secretKeyProblem(randomBytes(32).toString("hex"))).toBeUndefined()
    expect(secretKeyProblem(randomBytes(32).toString("base64"))).toBeUndefined()
    expect(secretKeyProblem(randomBytes(48).toString("base64url"))).toBeUndefined()
    expect(secretKeyProblem(randomBytes(31).toString("hex"))).toBe("decodes to 31 bytes; at least 32 are required")
    expect(secretKeyProblem("00".repeat(32))).toBe("is not random (too few distinct byte values)")
    expect(secretKeyProblem("deadbeef".repeat(8))).toBe("is not random (too few distinct byte values)")
    expect(secretKeyProblem("k".repeat(64))).toBe("is not random (too few distinct byte values)")
    expect(secretKeyProblem(DEVELOPMENT_SECRET_KEY)).toBe("is the public development key")
    expect(secretKeyProblem(DEVELOPMENT_SECRET_KEY.toUpperCase())).toBe("is the public development key")
    expect(secretKeyProblem("a passphrase is not a key")).toBe("is neither hex nor base64")
  })
})
