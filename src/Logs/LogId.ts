/**
 * Public log ids: `log_` + base64url of one AES-256 block holding 8 zero bytes and the row's bigint, under a key
 * derived (HKDF-SHA256, own `info`) from THREADLINE_SECRET_KEY. Opaque (neither order nor platform volume shows),
 * unique, and decodable back to the bigint for keyset cursors; a forged or altered id fails the zero check.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from "node:crypto"
import { Option, Redacted } from "effect"

const INFO = "logs/log-id/aes-256-ecb/v1"
const SALT = "threadline"
/** Development and tests may run without THREADLINE_SECRET_KEY; production refuses to start without it. */
const DEVELOPMENT_SECRET = "threadline-development-only-log-id-key"
const PREFIX = "log_"
const ENCODED = /^log_[A-Za-z0-9_-]{22}$/
const MAX_BIGINT = (1n << 63n) - 1n

export const logIdKey = (secret: Option.Option<Redacted.Redacted>): KeyObject =>
  createSecretKey(
    Buffer.from(
      hkdfSync(
        "sha256",
        Option.match(secret, { onNone: () => DEVELOPMENT_SECRET, onSome: Redacted.value }),
        SALT,
        INFO,
        32
      )
    )
  )

export interface LogIds {
  /** `id` is the row's bigint as text. */
  readonly encode: (id: string) => string
  /** The bigint (as text) an id of `encode` stands for; None for anything else (old `log_<n>` ids, garbage). */
  readonly decode: (publicId: string) => Option.Option<string>
}

/** ECB on exactly one block keeps no state between calls, so one cipher and one decipher serve every id. */
export const makeLogIds = (key: KeyObject): LogIds => {
  const cipher = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false)
  const decipher = createDecipheriv("aes-256-ecb", key, null).setAutoPadding(false)
  return {
    encode: (id) => {
      const block = Buffer.alloc(16)
      block.writeBigUInt64BE(BigInt(id), 8)
      return PREFIX + cipher.update(block).toString("base64url")
    },
    decode: (publicId) => {
      if (!ENCODED.test(publicId)) return Option.none()
      const block = Buffer.from(publicId.slice(PREFIX.length), "base64url")
      // the last character carries 2 unused bits: only the canonical spelling of a block is an id
      if (block.length !== 16 || block.toString("base64url") !== publicId.slice(PREFIX.length)) return Option.none()
      const plain = decipher.update(block)
      if (plain.length !== 16 || plain.readBigUInt64BE(0) !== 0n) return Option.none()
      const id = plain.readBigUInt64BE(8)
      return id >= 1n && id <= MAX_BIGINT ? Option.some(id.toString()) : Option.none()
    }
  }
}
