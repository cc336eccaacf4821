import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option, Redacted } from "effect"
import { deriveKey, open, SecretBox, seal } from "../../src/Alerts/SecretBox.js"
import { AppConfig } from "../../src/Config.js"

const key = deriveKey(Option.some(Redacted.make("0123456789abcdef0123456789abcdef")))
const otherKey = deriveKey(Option.some(Redacted.make("fedcba9876543210fedcba9876543210")))
const plaintext = "whsec_2b7e151628aed2a6abf7158809cf4f3c"
const owner = "org_a1/rul_b2"

const openValue = (k = key, stored: string, aad = owner) =>
  open(k, stored, aad).pipe(
    Effect.map(Redacted.value),
    Effect.mapError((e) => e.reason)
  )

/** Flips one bit of the decoded part `index` (1 iv, 2 ciphertext, 3 tag). */
const flip = (stored: string, index: number): string => {
  const parts = stored.split(".")
  const bytes = Buffer.from(parts[index]!, "base64url")
  bytes[0] = bytes[0]! ^ 1
  parts[index] = bytes.toString("base64url")
  return parts.join(".")
}

describe("SecretBox (AES-256-GCM, HKDF key)", () => {
  it.effect("round trip; the stored form is versioned, fresh per encryption, and does not contain the secret", () =>
    Effect.gen(function* () {
      const a = seal(key, Redacted.make(plaintext), owner)
      const b = seal(key, Redacted.make(plaintext), owner)
      expect(a).toMatch(/^tsb1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/)
      expect(a).not.toBe(b)
      expect(a).not.toContain(plaintext)
      expect(yield* openValue(key, a)).toBe(plaintext)
      expect(yield* openValue(key, b)).toBe(plaintext)
    })
  )

  it.effect("any altered part, another key or another owner fails authentication", () =>
    Effect.gen(function* () {
      const stored = seal(key, Redacted.make(plaintext), owner)
      for (const index of [1, 2, 3]) {
        expect(yield* Effect.flip(openValue(key, flip(stored, index)))).toBe("authentication-failed")
      }
      expect(yield* Effect.flip(openValue(otherKey, stored))).toBe("authentication-failed")
      expect(yield* Effect.flip(openValue(key, stored, "org_a1/rul_other"))).toBe("authentication-failed")
    })
  )

  it.effect("malformed and unknown formats are told apart, and no error carries the secret", () =>
    Effect.gen(function* () {
      const stored = seal(key, Redacted.make(plaintext), owner)
      expect(yield* Effect.flip(openValue(key, stored.replace(/^tsb1/, "tsb9")))).toBe("unsupported-format")
      for (const bad of ["", "tsb1", "tsb1.a.b", "tsb1.!!.b.c", stored.split(".").slice(0, 3).join(".") + ".AAAA"]) {
        expect([bad, yield* Effect.flip(openValue(key, bad))]).toEqual([bad, "malformed"])
      }
      const error = yield* Effect.flip(open(otherKey, stored, owner))
      expect(`${error.message} ${JSON.stringify(error)} ${String(error)}`).not.toContain(plaintext)
    })
  )

  const withKey = (secretKey: string) =>
    SecretBox.Default.pipe(
      Layer.provide(AppConfig.Default),
      Layer.provide(
        Layer.setConfigProvider(ConfigProvider.fromJson({ THREADLINE_ENV: "test", THREADLINE_SECRET_KEY: secretKey }))
      )
    )

  it.effect("the service takes its key from THREADLINE_SECRET_KEY; a process with another key cannot open it", () =>
    Effect.gen(function* () {
      const stored = yield* Effect.flatMap(SecretBox, (box) => box.encrypt(Redacted.make(plaintext), owner)).pipe(
        Effect.provide(withKey("k".repeat(32)))
      )
      const same = yield* Effect.flatMap(SecretBox, (box) => box.decrypt(stored, owner)).pipe(
        Effect.provide(withKey("k".repeat(32)))
      )
      expect(Redacted.value(same)).toBe(plaintext)
      // The same derivation from the raw key, done here, opens it too: the key really is the configured one.
      expect(yield* openValue(deriveKey(Option.some(Redacted.make("k".repeat(32)))), stored)).toBe(plaintext)
      const other = yield* Effect.exit(
        Effect.flatMap(SecretBox, (box) => box.decrypt(stored, owner)).pipe(Effect.provide(withKey("j".repeat(32))))
      )
      expect(Exit.isFailure(other)).toBe(true)
    })
  )
})
