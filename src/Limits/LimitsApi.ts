/**
 * `GET /api/v1/orgs/{org}/limits` (owner/admin: the limits in force and this month's usage) and
 * `PUT /api/v1/orgs/{org}/limits` (platform administrators only, `threadline admin grant`: any subset of
 * `rateLimit` and `quotas`, `null` restores the default; audited). Authentication is attached in src/Http/Api.ts.
 */
import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { Forbidden, NotFound } from "../Http/Errors.js"
import { LimitsDocument, OverridesPatch } from "./LimitsDocument.js"

const OrgPath = Schema.Struct({ org: Schema.String })

export class LimitsApi extends HttpApiGroup.make("limits")
  .add(HttpApiEndpoint.get("getLimits", "/api/v1/orgs/:org/limits").setPath(OrgPath).addSuccess(LimitsDocument))
  .add(
    HttpApiEndpoint.put("putLimits", "/api/v1/orgs/:org/limits")
      .setPath(OrgPath)
      .setPayload(OverridesPatch.annotations({ parseOptions: { errors: "all", onExcessProperty: "error" } }))
      .addSuccess(LimitsDocument)
  )
  .addError(NotFound)
  .addError(Forbidden) {}
