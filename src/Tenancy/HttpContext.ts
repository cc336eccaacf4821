/**
 * Contexts the tenancy handlers build themselves: register and login run without authentication, and creating an
 * organization switches to the new organization's context (CONTRACTS.md: its audit row belongs to it). They keep
 * the request's id and trace, and are recorded for the access log.
 */
import { HttpServerRequest } from "@effect/platform"
import { Effect, Option } from "effect"
import * as RequestId from "../Http/RequestId.js"
import { BruteForce } from "./BruteForce.js"
import { RequestState, recordContext } from "../Http/RequestState.js"
import {
  type Actor,
  type OrganizationId,
  RequestContext,
  type RequestContextData,
  SYSTEM_ORGANIZATION_ID
} from "../RequestContext.js"

export const httpContext = (
  actor: Actor,
  organizationId: OrganizationId = SYSTEM_ORGANIZATION_ID
): Effect.Effect<RequestContextData> =>
  Effect.gen(function* () {
    const state = yield* Effect.serviceOption(RequestState)
    const ctx = RequestContext.make({
      origin: "http",
      actor,
      organizationId,
      requestId: Option.isSome(state) ? state.value.requestId : yield* RequestId.current,
      ...(Option.isSome(state) ? { traceparent: state.value.traceparent } : {})
    })
    yield* recordContext(ctx)
    return ctx
  })

/** The client address the brute-force limits count against (the peer, or past trusted proxies: ClientAddress.ts). */
export const clientIp: Effect.Effect<string, never, HttpServerRequest.HttpServerRequest | BruteForce> = Effect.flatMap(
  BruteForce,
  (bf) => bf.clientIp
)

export const userAgent: Effect.Effect<string | null, never, HttpServerRequest.HttpServerRequest> = Effect.map(
  HttpServerRequest.HttpServerRequest,
  (request) => request.headers["user-agent"]?.slice(0, 512) ?? null
)
