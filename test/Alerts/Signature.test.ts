import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import { SIGNATURE_HEADER, sign, TIMESTAMP_HEADER, verify } from "../../src/Alerts/Signature.js"

const secret = Redacted.make("whsec_test")
const body = '{"a":1}'
const t = 1_700_000_000

describe("webhook signature", () => {
  it("matches a known vector (computed independently with openssl dgst -sha256 -hmac)", () => {
    expect(sign(secret, body, t)).toEqual({
      [TIMESTAMP_HEADER]: "1700000000",
      [SIGNATURE_HEADER]: "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    })
  })

  it("verifies its own signature, from a string or the raw bytes, with or without the timestamp header", () => {
    const headers = sign(secret, body, t)
    const input = { secret, signatureHeader: headers[SIGNATURE_HEADER], now: t + 10 }
    expect(verify({ ...input, body })).toEqual(Either.right(t))
    expect(verify({ ...input, body: Buffer.from(body) })).toEqual(Either.right(t))
    expect(verify({ ...input, body, secret: "whsec_test", timestampHeader: "1700000000" })).toEqual(Either.right(t))
  })

  it("rejects an altered body, another secret, a moved timestamp, and stale or future signatures", () => {
    const header = sign(secret, body, t)[SIGNATURE_HEADER]
    const base = { secret, body, signatureHeader: header, now: t }
    expect(verify({ ...base, body: '{"a":2}' })).toEqual(Either.left("signature-mismatch"))
    expect(verify({ ...base, secret: "whsec_other" })).toEqual(Either.left("signature-mismatch"))
    // Same v1 under another t: the timestamp is part of what was signed.
    expect(verify({ ...base, signatureHeader: header.replace("t=1700000000", "t=1700000001") })).toEqual(
      Either.left("signature-mismatch")
    )
    expect(verify({ ...base, timestampHeader: "1700000001" })).toEqual(Either.left("timestamp-mismatch"))
    expect(verify({ ...base, now: t + 301 })).toEqual(Either.left("timestamp-out-of-tolerance"))
    expect(verify({ ...base, now: t - 301 })).toEqual(Either.left("timestamp-out-of-tolerance"))
    expect(verify({ ...base, now: t + 301, toleranceSeconds: 600 })).toEqual(Either.right(t))
  })

  it("rejects missing and malformed headers", () => {
    const base = { secret, body, now: t }
    expect(verify({ ...base, signatureHeader: undefined })).toEqual(Either.left("missing-header"))
    expect(verify({ ...base, signatureHeader: "" })).toEqual(Either.left("missing-header"))
    for (const header of [
      "garbage",
      "t=1700000000",
      "v1=" + "a".repeat(64),
      "t=abc,v1=" + "a".repeat(64),
      "t=1,v1=zz"
    ]) {
      expect([header, verify({ ...base, signatureHeader: header })]).toEqual([header, Either.left("malformed-header")])
    }
  })

  it("accepts any of several v1 entries (secret rotation) and skips unknown schemes", () => {
    const current = sign(secret, body, t)[SIGNATURE_HEADER]
    const old = sign("whsec_old", body, t)[SIGNATURE_HEADER].split(",")[1]!
    const header = `${current.split(",")[0]},v2=whatever,${old},${current.split(",")[1]}`
    expect(verify({ secret, body, signatureHeader: header, now: t })).toEqual(Either.right(t))
    expect(verify({ secret: "whsec_old", body, signatureHeader: header, now: t })).toEqual(Either.right(t))
    expect(verify({ secret: "whsec_x", body, signatureHeader: header, now: t })).toEqual(
      Either.left("signature-mismatch")
    )
  })
})
