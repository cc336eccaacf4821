/**
 * Encryption at rest for webhook secrets: AES-256-GCM under a key derived with HKDF-SHA256 from
 * THREADLINE_SECRET_KEY, with its own `info` string so it is independent of every other key derived from the same
 * secret (the queue envelope key among them).
 *
 * Stored form (ASCII, fits a text column): `tsb1.<iv>.<ciphertext>.<tag>`, each part base64url; `tsb1` names the
 * format, the cipher and the derivation, so a later scheme can be read beside this one. The caller binds each
 * ciphertext to its owner with associated data (e.g. `<organizationId>/<ruleId>`): a secret copied onto another row
 * then fails to open instead of signing someone else's webhooks.
 *
 * Plaintext only ever leaves as `Redacted`; errors never contain it.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject, randomBytes } from "node:crypto"
import { Data, Effect, Option, Redacted } from "effect"
import { AppConfig } from "../Config.js"

const FORMAT = "tsb1"
const INFO = "alerts/webhook-secret/aes-256-gcm/v1"
const SALT = "threadline"
/** Development and tests may run without THREADLINE_SECRET_KEY; production refuses to start without it (Config.ts). */
const DEVELOPMENT_SECRET = "threadline-development-only-secret-box-key"
const IV_BYTES = 12
const TAG_BYTES = 16

export class SecretBoxError extends Data.TaggedError("SecretBoxError")<{
  readonly reason: "malformed" | "unsupported-format" | "authentication-failed"
}> {
  override get message() {
    return this.reason === "authentication-failed"
      ? "stored secret failed authentication: wrong key, wrong owner, or altered"
      : `stored secret is ${this.reason}`
  }
}

/** A key object from THREADLINE_SECRET_KEY (or the development fallback); never leaves this module's callers. */
export const deriveKey = (secret: Option.Option<Redacted.Redacted>): KeyObject => {
  const ikm = Option.match(secret, { onNone: () => DEVELOPMENT_SECRET, onSome: Redacted.value })
  return createSecretKey(Buffer.from(hkdfSync("sha256", ikm, SALT, INFO, 32)))
}

export const seal = (key: KeyObject, plaintext: Redacted.Redacted<string>, associatedData: string): string => {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(associatedData, "utf8"))
  const ciphertext = Buffer.concat([cipher.update(Redacted.value(plaintext), "utf8"), cipher.final()])
  return [FORMAT, iv, ciphertext, cipher.getAuthTag()]
    .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
    .join(".")
}

const BASE64URL = /^[A-Za-z0-9_-]*$/

export const open = (
  key: KeyObject,
  stored: string,
  associatedData: string
): Effect.Effect<Redacted.Redacted<string>, SecretBoxError> =>
  Effect.suspend(() => {
    const parts = stored.split(".")
    if (parts[0] !== FORMAT) {
      return Effect.fail(new SecretBoxError({ reason: parts.length === 4 ? "unsupported-format" : "malformed" }))
    }
    if (parts.length !== 4 || !parts.every((p) => BASE64URL.test(p))) {
      return Effect.fail(new SecretBoxError({ reason: "malformed" }))
    }
    const [iv, ciphertext, tag] = parts.slice(1).map((p) => Buffer.from(p, "base64url")) as [Buffer, Buffer, Buffer]
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      return Effect.fail(new SecretBoxError({ reason: "malformed" }))
    }
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(associatedData, "utf8"))
    decipher.setAuthTag(tag)
    return Effect.try({
      try: () => Redacted.make(Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8")),
      // `final` throws only when the tag does not match; its message says nothing about the content.
      catch: () => new SecretBoxError({ reason: "authentication-failed" })
    })
  })

export class SecretBox extends Effect.Service<SecretBox>()("Alerts/SecretBox", {
  effect: Effect.gen(function* () {
    const key = deriveKey((yield* AppConfig).secretKey)
    return {
      encrypt: (plaintext: Redacted.Redacted<string>, associatedData: string): Effect.Effect<string> =>
        Effect.sync(() => seal(key, plaintext, associatedData)),
      decrypt: (stored: string, associatedData: string) => open(key, stored, associatedData)
    } as const
  })
}) {}
