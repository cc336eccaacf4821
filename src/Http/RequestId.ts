/**
 * The request id of an HTTP unit of work. Decided once, by the server wiring (NodeServer.ts), before routing and
 * authentication: a valid `X-Request-Id` is kept, anything else is replaced by a minted `API-…` id and never echoed
 * or logged (ARCHITECTURE.md §4). It lives in a FiberRef so that middleware, which cannot see each other's provided
 * services, can read it; the same id goes into the response header, the error body, the access log line and the
 * RequestContext built by authentication.
 */
import { Effect, FiberRef, Option } from "effect"
import { RequestId as Ids, type RequestId, Traceparent } from "../RequestContext.js"

export const CurrentRequestId: FiberRef.FiberRef<Option.Option<RequestId>> = FiberRef.unsafeMake<
  Option.Option<RequestId>
>(Option.none())

/** A fresh `API-{unix-ms}-{96 random bits}` id. */
export const mint = (): RequestId => Ids.make("API")

/** The id for a raw header value: the header itself when it is valid, else a fresh one. */
export const fromHeader = (header: string | ReadonlyArray<string> | undefined): RequestId => {
  if (typeof header !== "string") return mint()
  return Option.getOrElse(Ids.parse(header), mint)
}

/** The trace a request continues: a valid incoming `traceparent` with a new span id, else a new sampled trace. */
export const traceparentFor = (header: string | ReadonlyArray<string> | undefined): string =>
  Traceparent.child(typeof header === "string" ? header : undefined)

/** The request id of the current unit of work; outside a request (tests, tools) a fresh one. */
export const current: Effect.Effect<RequestId> = Effect.map(FiberRef.get(CurrentRequestId), (id) =>
  Option.isSome(id) ? id.value : mint()
)
