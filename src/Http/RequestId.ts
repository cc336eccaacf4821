/**
 * The request id of an HTTP unit of work. Decided once, by the server wiring (NodeServer.ts), before routing and
 * authentication: a valid `X-Request-Id` is kept, anything else is replaced by a minted `API-…` id and never echoed
 * or logged (ARCHITECTURE.md §4). It lives in a FiberRef so that middleware, which cannot see each other's provided
 * services, can read it; the same id goes into the response header, the error body, the access log line and the
 * RequestContext built by authentication.
 */
import { randomFillSync } from "node:crypto"
import { Effect, FiberRef, Option } from "effect"
import { RequestId as Ids, type RequestId, Traceparent } from "../RequestContext.js"

export const CurrentRequestId: FiberRef.FiberRef<Option.Option<RequestId>> = FiberRef.unsafeMake<
  Option.Option<RequestId>
>(Option.none())

/**
 * Random hex from a pool refilled 4 KiB at a time: one `getRandomValues` per request id and per trace id cost a
 * tenth of a request's CPU (docs/performance.md); the bytes are the same CSPRNG's, consumed once each.
 */
const POOL_SIZE = 4096
const pool = Buffer.alloc(POOL_SIZE)
let offset = POOL_SIZE
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

export const randomHex = (bytes: number): string => {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool)
    offset = 0
  }
  let out = ""
  for (let i = offset; i < offset + bytes; i++) out += HEX[pool[i]!]
  offset += bytes
  return out
}

/** A fresh `API-{unix-ms}-{96 random bits}` id, the format of RequestContext's `RequestId.make`. */
export const mint = (): RequestId => `API-${Date.now()}-${randomHex(12)}` as RequestId

/** The id for a raw header value: the header itself when it is valid, else a fresh one. */
export const fromHeader = (header: string | ReadonlyArray<string> | undefined): RequestId => {
  if (typeof header !== "string") return mint()
  return Option.getOrElse(Ids.parse(header), mint)
}

/** The trace a request continues: a valid incoming `traceparent` with a new span id, else a new sampled trace. */
export const traceparentFor = (header: string | ReadonlyArray<string> | undefined): string =>
  typeof header === "string" && Traceparent.isValid(header)
    ? `00-${header.slice(3, 35)}-${randomHex(8)}-${header.slice(-2)}`
    : `00-${randomHex(16)}-${randomHex(8)}-01`

/** The request id of the current unit of work; outside a request (tests, tools) a fresh one. */
export const current: Effect.Effect<RequestId> = Effect.map(FiberRef.get(CurrentRequestId), (id) =>
  Option.isSome(id) ? id.value : mint()
)

/** Runs `self` with `id` as the current request id. */
export const withRequestId =
  (id: RequestId) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.locally(self, CurrentRequestId, Option.some(id))
