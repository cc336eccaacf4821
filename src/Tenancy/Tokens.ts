/**
 * Secrets handed to clients: API keys (`tl_` + 32 random bytes, base64url), session tokens (32 random bytes,
 * base64url) and invitation tokens (`tli_` + 32 random bytes). Only their SHA-256 (hex) is stored; a key also keeps
 * a short display prefix.
 */
import { createHash, randomBytes } from "node:crypto"
import { Redacted } from "effect"

const API_KEY_PREFIX = "tl_"

export const sha256Hex = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex")

export interface MintedKey {
  readonly secret: Redacted.Redacted<string>
  readonly hash: string
  /** What lists show: `tl_` and the first 8 characters of the random part. */
  readonly prefix: string
}

export const mintApiKey = (): MintedKey => {
  const secret = `${API_KEY_PREFIX}${randomBytes(32).toString("base64url")}`
  return { secret: Redacted.make(secret), hash: sha256Hex(secret), prefix: secret.slice(0, API_KEY_PREFIX.length + 8) }
}

/** A well-formed key: the prefix and 43 base64url characters (32 bytes). Anything else is refused unhashed. */
export const isWellFormedKey = (secret: string): boolean => /^tl_[A-Za-z0-9_-]{43}$/.test(secret)

export interface MintedSession {
  readonly token: Redacted.Redacted<string>
  readonly hash: string
}

export const mintSessionToken = (): MintedSession => {
  const token = randomBytes(32).toString("base64url")
  return { token: Redacted.make(token), hash: sha256Hex(token) }
}

const INVITATION_TOKEN_PREFIX = "tli_"

/** An invitation token: `tli_` + 32 random bytes (base64url); stored only as its SHA-256. */
export const mintInvitationToken = (): MintedSession => {
  const token = `${INVITATION_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`
  return { token: Redacted.make(token), hash: sha256Hex(token) }
}

export const isWellFormedInvitationToken = (token: string): boolean => /^tli_[A-Za-z0-9_-]{43}$/.test(token)
