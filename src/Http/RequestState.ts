/**
 * Per-request facts the server wiring needs after the handler is done: the request id and trace it decided on, the
 * route template the router matched, and the RequestContext authentication (or OrgAccess) settled on, for the
 * access log line. One mutable object per request, put in the request fiber's Context by NodeServer.ts; code that
 * runs outside that wiring (tests on a web handler) simply finds none.
 */
import { Context, Effect, Option } from "effect"
import type { RequestContextData, RequestId } from "../RequestContext.js"

export class RequestStateData {
  route: string | undefined = undefined
  context: RequestContextData | undefined = undefined
  /** Headers every answer to this request carries, whatever it ends in (the rate-limit step's `RateLimit-*`). */
  headers: Record<string, string> | undefined = undefined
  constructor(
    readonly requestId: RequestId,
    /** The trace this request continues (valid incoming `traceparent`, new span id) or starts. */
    readonly traceparent: string,
    readonly startedAt: number
  ) {}
}

export class RequestState extends Context.Tag("Http/RequestState")<RequestState, RequestStateData>() {}

/** Adds headers to the request's answer, success or error; a no-op outside the wiring. */
export const addHeaders = (headers: Record<string, string>): Effect.Effect<void> =>
  Effect.map(Effect.serviceOption(RequestState), (state) => {
    if (Option.isSome(state)) state.value.headers = { ...state.value.headers, ...headers }
  })

/** Records the context the rest of the request runs under (for the access log); a no-op outside the wiring. */
export const recordContext = (ctx: RequestContextData): Effect.Effect<void> =>
  Effect.map(Effect.serviceOption(RequestState), (state) => {
    if (Option.isSome(state)) state.value.context = ctx
  })
