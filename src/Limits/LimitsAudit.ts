/**
 * The audit trail as the limits area needs it: an action recorded under the current context (actor, organization,
 * request id come from it). Implemented by src/Audit once it exists; an interface so this area does not depend on
 * the audit table's shape.
 */
import { Context, type Effect } from "effect"
import type { RequestContext } from "../RequestContext.js"

export interface LimitsAuditShape {
  readonly record: (
    action: "alert.evaluation_skipped" | "limits.updated",
    details: Readonly<Record<string, unknown>>
  ) => Effect.Effect<void, never, RequestContext>
}

export class LimitsAudit extends Context.Tag("Limits/LimitsAudit")<LimitsAudit, LimitsAuditShape>() {}
