import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import {
  entriesOf,
  LogEntry,
  RefusedEntry,
  SerializedMetadata,
  validateEntries,
  validateEntry,
  type ValidEntry
} from "../../src/Logs/Entry.js"

const limits = { maxMessageBytes: 64 * 1024, maxMetadataBytes: 64 * 1024, maxMetadataDepth: 20 }
const now = new Date("2026-01-02T03:04:05.678Z")
const ok = (raw: unknown): ValidEntry => {
  const r = validateEntry(raw, now, limits)
  if (typeof r === "string") throw new Error(`expected valid, got: ${r}`)
  return r
}
const reason = (raw: unknown): string => {
  const r = validateEntry(raw, now, limits)
  if (typeof r !== "string") throw new Error("expected a rejection")
  return r
}
const base = { service: "api", level: "info", message: "hello" }

describe("validateEntry", () => {
  it("accepts a minimal entry, defaulting time to now", () => {
    const e = ok(base)
    expect(e).toEqual({
      time: now,
      service: "api",
      level: "info",
      message: "hello",
      metadata: null,
      traceId: null,
      spanId: null,
      sessionId: null
    })
  })

  it("keeps every optional field, lower-cases the span id and serialises nested metadata once", () => {
    const metadata = { user: { id: 7, roles: ["a", "b"], deep: { x: null } }, ok: true }
    const e = ok({
      ...base,
      time: "2025-12-31T23:59:59.123456Z",
      metadata,
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
      span_id: "00F067AA0BA902B7",
      session_id: "sess-1"
    })
    expect(e.time.toISOString()).toBe("2025-12-31T23:59:59.123Z")
    expect(JSON.parse(e.metadata ?? "null")).toEqual(metadata)
    expect(e.spanId).toBe("00f067aa0ba902b7")
    expect(e.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
    expect(e.sessionId).toBe("sess-1")
  })

  it("accepts a UUID trace id as the LogTide SDK sends it, and epoch times in seconds or milliseconds", () => {
    expect(ok({ ...base, trace_id: "0b4f6f4e-2d4c-4a8e-9a53-1f3d2b9c7e11" }).traceId).toContain("-")
    expect(ok({ ...base, time: 1_700_000_000 }).time.getTime()).toBe(1_700_000_000_000)
    expect(ok({ ...base, time: 1_700_000_000_123 }).time.getTime()).toBe(1_700_000_000_123)
    expect(ok({ ...base, time: "2025-01-01T10:00:00+02:00" }).time.toISOString()).toBe("2025-01-01T08:00:00.000Z")
  })

  it("takes unicode messages and a message of exactly 64 KiB of UTF-8, refuses one byte more", () => {
    expect(ok({ ...base, message: "日本語 ✓ émoji 🚀" }).message).toBe("日本語 ✓ émoji 🚀")
    const exact = "é".repeat(32 * 1024) // 2 bytes each
    expect(Buffer.byteLength(exact)).toBe(65536)
    expect(ok({ ...base, message: exact }).message).toHaveLength(32 * 1024)
    expect(reason({ ...base, message: exact + "a" })).toMatch(/^message: longer than 65536 bytes/)
    expect(reason({ ...base, message: "🚀".repeat(16 * 1024) + "x" })).toMatch(/^message/)
  })

  it.each([
    [{ ...base, service: "" }, /^service/],
    [{ ...base, service: "s".repeat(101) }, /^service/],
    [{ level: "info", message: "m" }, /^service/],
    [{ ...base, level: "fatal" }, /^level/],
    [{ ...base, level: "INFO" }, /^level/],
    [{ ...base, message: "" }, /^message/],
    [{ ...base, message: 42 }, /^message/],
    [{ ...base, message: "a\u0000b" }, /^message: must not contain NUL/],
    [{ ...base, metadata: [1, 2] }, /^metadata/],
    [{ ...base, metadata: "x" }, /^metadata/],
    [{ ...base, metadata: { k: "a\u0000" } }, /^metadata: must not contain NUL/],
    [{ ...base, message: "lone \ud800 high" }, /^message: must not contain a lone surrogate/],
    [{ ...base, service: "s\udc00" }, /^service: must not contain a lone surrogate/],
    [{ ...base, metadata: { k: "\udfff" } }, /^metadata: must not contain a lone surrogate/],
    [{ ...base, metadata: { "\ud83d": 1 } }, /^metadata: must not contain a lone surrogate/],
    [{ ...base, metadata: { v: "x".repeat(64 * 1024 - 7) } }, /^metadata: larger than 65536 bytes serialised/],
    [{ ...base, metadata: JSON.parse(`${'{"a":'.repeat(21)}1${"}".repeat(21)}`) as unknown }, /^metadata: nested/],
    [{ ...base, span_id: "123" }, /^span_id/],
    [{ ...base, span_id: "zzzzzzzzzzzzzzzz" }, /^span_id/],
    [{ ...base, trace_id: "" }, /^trace_id/],
    [{ ...base, trace_id: "has space" }, /^trace_id/],
    [{ ...base, session_id: 5 }, /^session_id/],
    [{ ...base, time: "yesterday" }, /^time/],
    [{ ...base, time: "2025-01-01 10:00:00" }, /^time/],
    [{ ...base, time: "+275760-09-13T00:00:00Z" }, /^time/],
    [{ ...base, time: -5 }, /^time/],
    ["a string", /^entry/],
    [null, /^entry/]
  ])("rejects %j", (raw, expected) => {
    expect(reason(raw)).toMatch(expected)
  })

  it("refuses metadata nested 100,000 deep without overflowing the stack", () => {
    const deep = JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`) as unknown
    expect(reason({ ...base, metadata: { a: deep } })).toBe("metadata: nested deeper than 20 levels")
  })

  it("takes metadata of exactly 64 KiB and 20 levels, surrogate pairs, and a pre-serialised or refused entry", () => {
    expect(ok({ ...base, metadata: { v: "x".repeat(64 * 1024 - 8) } }).metadata).toHaveLength(64 * 1024)
    const deep = JSON.parse(`${'{"a":'.repeat(20)}1${"}".repeat(20)}`) as unknown
    expect(JSON.parse(ok({ ...base, metadata: deep }).metadata ?? "null")).toEqual(deep)
    expect(ok({ ...base, message: "🚀", metadata: { "🚀": "🚀", esc: "\\ud800" } }).metadata).toBe(
      '{"🚀":"🚀","esc":"\\\\ud800"}'
    )
    expect(ok({ ...base, metadata: new SerializedMetadata('{"as":"is"}') }).metadata).toBe('{"as":"is"}')
    expect(reason(new RefusedEntry("metadata: why"))).toBe("metadata: why")
  })

  it("does not mistake an escaped backslash before u0000 for a NUL", () => {
    expect(ok({ ...base, metadata: { path: "C:\\u0000dir" } }).metadata).toContain("u0000dir")
  })

  it("agrees with the LogEntry schema on the entries the schema can judge", () => {
    const samples: ReadonlyArray<unknown> = [
      base,
      { ...base, level: "nope" },
      { ...base, service: "" },
      { ...base, span_id: "00f067aa0ba902b7" },
      { ...base, span_id: "00f067aa0ba902b" },
      { ...base, metadata: { a: 1 } },
      { ...base, metadata: [] },
      { ...base, trace_id: "a b" }
    ]
    for (const s of samples) {
      const bySchema = Either.isRight(Schema.decodeUnknownEither(LogEntry)(s))
      expect([s, typeof validateEntry(s, now, limits) !== "string"]).toEqual([s, bySchema])
    }
  })
})

describe("validateEntries and entriesOf", () => {
  it("keeps valid entries in order and reports each invalid one with its index", () => {
    const items = [base, { ...base, level: "x" }, { ...base, message: "second" }, 17, { ...base, service: "" }]
    const { entries, rejected } = validateEntries(items, now, limits)
    expect(entries.map((e) => e.message)).toEqual(["hello", "second"])
    expect(rejected.map((r) => r.index)).toEqual([1, 3, 4])
    expect(rejected.every((r) => r.reason.length > 0)).toBe(true)
  })

  it("reads both LogTide body forms and the single form", () => {
    expect(entriesOf({ logs: [base] }, "batch")).toEqual([base])
    expect(entriesOf([base, base], "batch")).toHaveLength(2)
    expect(entriesOf(base, "single")).toEqual([base])
    expect(entriesOf([base], "single")).toEqual([base])
    expect(entriesOf(base, "batch")).toMatch(/^body/)
    expect(entriesOf({ logs: "x" }, "batch")).toMatch(/^body/)
    expect(entriesOf("x", "single")).toMatch(/^body/)
  })
})
