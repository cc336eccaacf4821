/**
 * The keyset cursor of a search: the (time, id) of the last row of a page, opaque to clients (base64url JSON of the
 * time and the row's public id, never its bigint). The time is kept as Postgres prints it, to the microsecond, as a
 * JS Date would round it to the millisecond and a page boundary inside one millisecond would skip or repeat rows.
 */
import { Either, Option, Schema } from "effect"
import type { LogIds } from "./LogId.js"

const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$/

const Payload = Schema.Struct({
  t: Schema.String.pipe(Schema.maxLength(32)),
  i: Schema.String.pipe(Schema.maxLength(64))
})

export interface Cursor {
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` */
  readonly time: string
  /** The row's bigint, as text. */
  readonly id: string
}

export const encodeCursor = (ids: LogIds, c: Cursor): string =>
  Buffer.from(JSON.stringify({ t: c.time, i: ids.encode(c.id) }), "utf8").toString("base64url")

/** A real instant of years 1–9999 (what Postgres holds), spelled as `encodeCursor` spells it. */
const isCursorTime = (t: string): boolean => {
  const m = TIME.exec(t)
  if (m === null) return false
  const year = Number(m[1])
  const ms = Date.parse(`${t.slice(0, 23)}Z`)
  return year >= 1 && Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 23) === t.slice(0, 23)
}

const NOT_OURS = "not a cursor returned by this API"

/** Left: why, for the `cursor` parameter's 400. Any input, any size: bounded work, never a database error. */
export const decodeCursor = (ids: LogIds, raw: string): Either.Either<Cursor, string> => {
  if (raw.length > 512 || !/^[A-Za-z0-9_-]*={0,2}$/.test(raw)) return Either.left(NOT_OURS)
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"))
  } catch {
    return Either.left(NOT_OURS)
  }
  const payload = Schema.decodeUnknownEither(Payload)(parsed)
  if (Either.isLeft(payload) || !isCursorTime(payload.right.t)) return Either.left(NOT_OURS)
  const id = ids.decode(payload.right.i)
  return Option.isSome(id) ? Either.right({ time: payload.right.t, id: id.value }) : Either.left(NOT_OURS)
}
