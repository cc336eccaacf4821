/**
 * `GET /api/v1/orgs/{org}/audit-log` (owner/admin): the organization's audit trail, newest first, with filters and
 * an opaque cursor. Authentication is attached in src/Http/Api.ts.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { BadRequest, Forbidden, NotFound } from "../Http/Errors.js"
import { ActorType } from "./AuditLog.js"

export const AuditQuery = Schema.Struct({
  action: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))),
  actorType: Schema.optional(ActorType),
  targetType: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))),
  from: Schema.optional(Schema.Date),
  to: Schema.optional(Schema.Date),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 200)))
}).annotations({ parseOptions: { errors: "all" } })

export const AuditEntryView = Schema.Struct({
  id: Schema.String,
  projectId: Schema.NullOr(Schema.String),
  actorType: ActorType,
  actorId: Schema.NullOr(Schema.String),
  actorReason: Schema.NullOr(Schema.String),
  action: Schema.String,
  targetType: Schema.String,
  targetId: Schema.NullOr(Schema.String),
  changes: Schema.NullOr(Schema.Unknown),
  requestId: Schema.String,
  createdAt: Schema.String
})

export class AuditApi extends HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("listAudit", "/api/v1/orgs/:org/audit-log")
      .setPath(Schema.Struct({ org: Schema.String }))
      .setUrlParams(AuditQuery)
      .addSuccess(Schema.Struct({ entries: Schema.Array(AuditEntryView), nextCursor: Schema.NullOr(Schema.String) }))
      .addError(BadRequest)
  )
  .addError(NotFound)
  .addError(Forbidden) {}
