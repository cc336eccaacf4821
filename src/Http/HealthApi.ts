/**
 * Liveness and readiness (API.md): `/health` answers while the process serves; `/ready` also checks that Postgres
 * (`SELECT 1`) and Redis (`PING`) answer within a short timeout, and is 503 when either does not, so a load
 * balancer stops sending traffic to an instance that cannot serve it.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { ErrorDetail } from "./Errors.js"

export const Health = Schema.Struct({ status: Schema.Literal("ok") }).annotations({ identifier: "Health" })

const Check = Schema.Literal("up", "down")
export const Ready = Schema.Struct({
  status: Schema.Literal("ready"),
  checks: Schema.Struct({ postgres: Check, redis: Check })
}).annotations({ identifier: "Ready" })
export type Ready = typeof Ready.Type

/** 503 from `/ready`; `details` names each dependency and its state (`{ path: "redis", message: "down" }`). */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { message: Schema.String, details: Schema.Array(ErrorDetail) },
  HttpApiSchema.annotations({ status: 503 })
) {}

export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Health))
  .add(HttpApiEndpoint.get("ready", "/ready").addSuccess(Ready).addError(NotReady)) {}
