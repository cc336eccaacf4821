/**
 * What the HTTP layer needs from the tenancy area, as interfaces the tenancy service implements (CONTRACTS.md):
 * - `Credentials`: turn an API key secret or a session token into a principal (pre-tenant lookups by hash);
 * - `OrgDirectory`: find an organization by id or slug, and a user's role in it.
 * Lookups that cannot be answered because Postgres or Redis is down die (or fail) with the infrastructure error;
 * the error pipeline answers 503 for those, so the interfaces only name the errors a client can act on.
 */
import { Context, type Effect, type Option, type Redacted } from "effect"
import type { ApiKeyId, OrganizationId, ProjectId, UserId } from "../RequestContext.js"
import type { Unauthorized } from "./Errors.js"

/** `write` keys ingest only; `full` keys also read (API.md "Authentication"). */
export type ApiKeyType = "write" | "full"

export type Role = "owner" | "admin" | "member"

/** Ordered so that `atLeast(role, "admin")` reads naturally. */
const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 }
export const atLeast = (role: Role, minimum: Role): boolean => RANK[role] >= RANK[minimum]

/** An API key: bound to one project of one organization. */
export interface ApiKeyPrincipal {
  readonly _tag: "ApiKey"
  readonly apiKeyId: ApiKeyId
  readonly organizationId: OrganizationId
  readonly projectId: ProjectId
  readonly keyType: ApiKeyType
}

/** A user's session: no organization by itself; org routes resolve one through `OrgAccess`. */
export interface SessionPrincipal {
  readonly _tag: "Session"
  readonly userId: UserId
  readonly email: string
  /** Opaque id of the session row (for logout); never the token. */
  readonly sessionId: string
}

export type AuthResult = ApiKeyPrincipal | SessionPrincipal

export interface CredentialsShape {
  /** `secret` is the full `tl_…` key as sent. Unknown, revoked or malformed → Unauthorized. */
  readonly fromApiKey: (secret: Redacted.Redacted<string>) => Effect.Effect<ApiKeyPrincipal, Unauthorized>
  /** `token` as sent in the cookie or the Bearer header. Unknown, expired or revoked → Unauthorized. */
  readonly fromSession: (token: Redacted.Redacted<string>) => Effect.Effect<SessionPrincipal, Unauthorized>
}

export class Credentials extends Context.Tag("Http/Credentials")<Credentials, CredentialsShape>() {}

export interface OrganizationRef {
  readonly id: OrganizationId
  readonly slug: string
}

export interface OrgDirectoryShape {
  /** Pre-tenant lookup of an organization by its id (`org_…`) or its slug; None when there is none. */
  readonly findOrganization: (
    key: { readonly id: OrganizationId } | { readonly slug: string }
  ) => Effect.Effect<Option.Option<OrganizationRef>>
  /** The user's role in the organization; None when the user is not a member. Never cached by the HTTP layer. */
  readonly memberRole: (organizationId: OrganizationId, userId: UserId) => Effect.Effect<Option.Option<Role>>
}

export class OrgDirectory extends Context.Tag("Http/OrgDirectory")<OrgDirectory, OrgDirectoryShape>() {}
