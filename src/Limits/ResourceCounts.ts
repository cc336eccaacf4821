/**
 * How much of the counted resources an organization holds, answered by the areas that own them (alert rules:
 * src/Alerts; API keys: src/Tenancy; stored bytes: src/Sql). `count` runs inside the caller's tenant transaction, so
 * it sees exactly what the insert that follows will see; `storageBytes` is read for the quota cache and takes the
 * organization explicitly.
 */
import { Context, type Effect } from "effect"
import type { OrganizationId, RequestContext } from "../RequestContext.js"

export type CountedResource = "alertRules" | "apiKeys"

export interface ResourceCountsShape {
  readonly count: (resource: CountedResource) => Effect.Effect<number, never, RequestContext>
  readonly storageBytes: (organizationId: OrganizationId) => Effect.Effect<number>
}

export class ResourceCounts extends Context.Tag("Limits/ResourceCounts")<ResourceCounts, ResourceCountsShape>() {}
