/**
 * Where an organization's limit overrides live: the `organization_limits` table of the storage area. An interface
 * here, so the limits area does not own the table; `OverridesSql` implements it with plain SQL until the storage
 * area's repository does. Takes the organization explicitly: it is read on behalf of the limiter's per-process
 * cache, which serves many requests of that organization.
 */
import { Context, Data, type Effect } from "effect"
import type { OrganizationId, RequestContext } from "../RequestContext.js"
import type { LimitOverrides, OverridesPatch } from "./LimitsDocument.js"

export class LimitsStoreError extends Data.TaggedError("LimitsStoreError")<{ readonly cause: unknown }> {
  override get message() {
    return `limits store failed: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export interface OverridesStoreShape {
  readonly get: (organizationId: OrganizationId) => Effect.Effect<LimitOverrides, LimitsStoreError>
  /**
   * Applies a PUT body atomically; returns the overrides as they were (read under the row lock) and as they are now
   * stored. The context's actor is `updated_by`.
   */
  readonly put: (
    organizationId: OrganizationId,
    patch: OverridesPatch
  ) => Effect.Effect<
    { readonly before: LimitOverrides; readonly after: LimitOverrides },
    LimitsStoreError,
    RequestContext
  >
}

export class OverridesStore extends Context.Tag("Limits/OverridesStore")<OverridesStore, OverridesStoreShape>() {}
