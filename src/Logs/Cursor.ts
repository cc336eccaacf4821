/**
 * The keyset cursor of a search: the (time, id) of the last row of a page, opaque to clients (base64url JSON).
 * The time is kept as Postgres prints it, to the microsecond, because a JS Date would round it to the millisecond
 * and a page boundary between two rows of the same millisecond would then skip or repeat rows.
 */
import { Either, Schema } from "effect"

const Payload = Schema.Struct({
  t: Schema.String.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)),
  i: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/))
})

export interface Cursor {
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` */
  readonly time: string
  readonly id: string
}

export const encodeCursor = (c: Cursor): string =>
  Buffer.from(JSON.stringify({ t: c.time, i: c.id }), "utf8").toString("base64url")

export const decodeCursor = (raw: string): Either.Either<Cursor, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"))
  } catch {
    return Either.left("cursor: not a cursor returned by this API")
  }
  return Schema.decodeUnknownEither(Payload)(parsed).pipe(
    Either.map((p) => ({ time: p.t, id: p.i })),
    Either.mapLeft(() => "cursor: not a cursor returned by this API")
  )
}
