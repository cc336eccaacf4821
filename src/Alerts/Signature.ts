/**
 * Webhook signatures (API.md, Webhooks):
 *
 *   X-Threadline-Timestamp: <unix seconds>
 *   X-Threadline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * The timestamp is inside the signed text, so a captured delivery cannot be replayed later than the receiver's
 * tolerance. `verify` is what a receiver runs (our tests use it as their receiver); it accepts several `v1` entries
 * so a receiver can be handed signatures for an old and a new secret while the secret is rotated.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Either, Redacted } from "effect"

export const SIGNATURE_HEADER = "x-threadline-signature"
export const TIMESTAMP_HEADER = "x-threadline-timestamp"

/** Receivers should not accept a signature older (or further in the future) than this by default. */
const DEFAULT_TOLERANCE_SECONDS = 300

export type Secret = string | Redacted.Redacted<string>

const secretValue = (secret: Secret): string => (typeof secret === "string" ? secret : Redacted.value(secret))

const digest = (secret: Secret, timestamp: number, body: string | Uint8Array): Buffer =>
  createHmac("sha256", secretValue(secret)).update(`${timestamp}.`).update(body).digest()

/** The two headers for `body` signed at `timestamp` (unix seconds). */
export const sign = (
  secret: Secret,
  body: string | Uint8Array,
  timestamp: number
): { readonly [TIMESTAMP_HEADER]: string; readonly [SIGNATURE_HEADER]: string } => ({
  [TIMESTAMP_HEADER]: String(timestamp),
  [SIGNATURE_HEADER]: `t=${timestamp},v1=${digest(secret, timestamp, body).toString("hex")}`
})

export type VerifyFailure =
  "missing-header" | "malformed-header" | "timestamp-mismatch" | "timestamp-out-of-tolerance" | "signature-mismatch"

export interface VerifyInput {
  readonly secret: Secret
  /** The raw request body, byte for byte as received (not re-serialized JSON). */
  readonly body: string | Uint8Array
  readonly signatureHeader: string | null | undefined
  /** When given, it must equal the signed `t`. */
  readonly timestampHeader?: string | null | undefined
  readonly toleranceSeconds?: number
  /** Receiver's clock in unix seconds; defaults to now. */
  readonly now?: number
}

const HEX_SHA256 = /^[0-9a-f]{64}$/
const UNIX_SECONDS = /^[0-9]{1,12}$/

const parseHeader = (header: string): { readonly t: number; readonly v1: ReadonlyArray<Buffer> } | null => {
  let t: number | null = null
  const v1: Array<Buffer> = []
  for (const part of header.split(",")) {
    const eq = part.indexOf("=")
    if (eq <= 0) return null
    const key = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    if (key === "t") {
      if (t !== null || !UNIX_SECONDS.test(value)) return null
      t = Number(value)
    } else if (key === "v1") {
      if (!HEX_SHA256.test(value)) return null
      v1.push(Buffer.from(value, "hex"))
    }
    // Unknown schemes (a future v2) are skipped so old receivers keep working.
  }
  return t === null || v1.length === 0 ? null : { t, v1 }
}

/** Right(timestamp) when one `v1` matches; every comparison is constant-time. */
export const verify = (input: VerifyInput): Either.Either<number, VerifyFailure> => {
  if (input.signatureHeader === null || input.signatureHeader === undefined || input.signatureHeader === "") {
    return Either.left("missing-header")
  }
  const parsed = parseHeader(input.signatureHeader)
  if (parsed === null) return Either.left("malformed-header")
  if (
    input.timestampHeader !== undefined &&
    input.timestampHeader !== null &&
    input.timestampHeader !== String(parsed.t)
  ) {
    return Either.left("timestamp-mismatch")
  }
  const now = input.now ?? Math.floor(Date.now() / 1000)
  if (Math.abs(now - parsed.t) > (input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    return Either.left("timestamp-out-of-tolerance")
  }
  const expected = digest(input.secret, parsed.t, input.body)
  // `some` would stop early and leak which entry matched through timing; compare them all.
  let matched = false
  for (const candidate of parsed.v1) matched = timingSafeEqual(candidate, expected) || matched
  return matched ? Either.right(parsed.t) : Either.left("signature-mismatch")
}
