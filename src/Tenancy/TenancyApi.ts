/**
 * The tenancy routes: `auth` (register, login: no credentials), `account` (logout, me, the user's organizations,
 * accepting an invitation: session) and `orgs` (one organization's members, invitations, projects and API keys:
 * session, via OrgAccess).
 * Authentication is attached in src/Http/Api.ts, not here.
 */
import { LimitReached } from "../Limits/Quotas.js"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized } from "../Http/Errors.js"
import { ListQuery } from "./ListPage.js"
import * as S from "./TenancySchemas.js"

const created = { status: 201 } as const
const OrgPath = Schema.Struct({ org: Schema.String })
const ProjectPath = Schema.Struct({ org: Schema.String, project: Schema.String })
/** Every list pages (API.md "Conventions"): null on the last page. */
const NextCursor = Schema.NullOr(Schema.String)

export class AuthApi extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("register", "/api/v1/auth/register")
      .setPayload(S.RegisterPayload)
      .addSuccess(S.UserView, created)
      .addError(TooManyRequests)
  )
  .add(
    HttpApiEndpoint.post("login", "/api/v1/auth/login")
      .setPayload(S.LoginPayload)
      .addSuccess(S.LoginReply)
      .addError(Unauthorized)
      .addError(TooManyRequests)
  ) {}

export class AccountApi extends HttpApiGroup.make("account")
  .add(HttpApiEndpoint.post("logout", "/api/v1/auth/logout").addSuccess(HttpApiSchema.NoContent))
  // "sign out everywhere": every session of the user is revoked (API keys are not sessions: unaffected)
  .add(HttpApiEndpoint.post("logoutAll", "/api/v1/auth/logout-all").addSuccess(HttpApiSchema.NoContent))
  .add(HttpApiEndpoint.get("me", "/api/v1/auth/me").addSuccess(S.MeReply))
  .add(
    HttpApiEndpoint.post("createOrg", "/api/v1/orgs")
      .setPayload(S.CreateOrgPayload)
      .addSuccess(S.OrgView, created)
      .addError(Conflict)
      // 429 with Retry-After: the user already belongs to THREADLINE_MAX_ORGANIZATIONS_PER_USER organizations
      .addError(TooManyRequests)
  )
  .add(
    HttpApiEndpoint.get("listOrgs", "/api/v1/orgs")
      .setUrlParams(ListQuery)
      .addSuccess(Schema.Struct({ organizations: Schema.Array(S.OrgView), nextCursor: NextCursor }))
      .addError(BadRequest)
  )
  .add(
    // whoever holds the token joins with the invited role: the organization joined
    HttpApiEndpoint.post("acceptInvitation", "/api/v1/invitations/accept")
      .setPayload(S.AcceptInvitationPayload)
      .addSuccess(S.OrgView)
      .addError(NotFound)
      .addError(Conflict)
      .addError(TooManyRequests)
  ) {}

export class OrgsApi extends HttpApiGroup.make("orgs")
  .add(HttpApiEndpoint.get("getOrg", "/api/v1/orgs/:org").setPath(OrgPath).addSuccess(S.OrgView))
  .add(
    HttpApiEndpoint.get("listMembers", "/api/v1/orgs/:org/members")
      .setPath(OrgPath)
      .setUrlParams(ListQuery)
      .addSuccess(Schema.Struct({ members: Schema.Array(S.MemberView), nextCursor: NextCursor }))
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.get("listInvitations", "/api/v1/orgs/:org/invitations")
      .setPath(OrgPath)
      .setUrlParams(ListQuery)
      .addSuccess(Schema.Struct({ invitations: Schema.Array(S.InvitationView), nextCursor: NextCursor }))
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.post("createInvitation", "/api/v1/orgs/:org/invitations")
      .setPath(OrgPath)
      .setPayload(S.CreateInvitationPayload)
      .addSuccess(S.CreatedInvitation, created)
      // 429 with Retry-After: THREADLINE_MAX_PENDING_INVITATIONS pending, or THREADLINE_INVITATIONS_PER_HOUR reached
      .addError(TooManyRequests)
  )
  .add(
    HttpApiEndpoint.del("revokeInvitation", "/api/v1/orgs/:org/invitations/:invitationId")
      .setPath(Schema.Struct({ org: Schema.String, invitationId: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
  )
  .add(
    HttpApiEndpoint.del("removeMember", "/api/v1/orgs/:org/members/:userId")
      .setPath(Schema.Struct({ org: Schema.String, userId: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.get("listProjects", "/api/v1/orgs/:org/projects")
      .setPath(OrgPath)
      .setUrlParams(ListQuery)
      .addSuccess(Schema.Struct({ projects: Schema.Array(S.ProjectView), nextCursor: NextCursor }))
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.post("createProject", "/api/v1/orgs/:org/projects")
      .setPath(OrgPath)
      .setPayload(S.CreateProjectPayload)
      .addSuccess(S.ProjectView, created)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.get("getProject", "/api/v1/orgs/:org/projects/:project")
      .setPath(ProjectPath)
      .addSuccess(S.ProjectView)
  )
  .add(
    HttpApiEndpoint.del("deleteProject", "/api/v1/orgs/:org/projects/:project")
      .setPath(ProjectPath)
      .addSuccess(HttpApiSchema.NoContent)
  )
  .add(
    HttpApiEndpoint.get("listKeys", "/api/v1/orgs/:org/projects/:project/api-keys")
      .setPath(ProjectPath)
      .setUrlParams(ListQuery)
      .addSuccess(Schema.Struct({ keys: Schema.Array(S.KeyView), nextCursor: NextCursor }))
      .addError(BadRequest)
  )
  .add(
    HttpApiEndpoint.post("createKey", "/api/v1/orgs/:org/projects/:project/api-keys")
      .setPath(ProjectPath)
      .setPayload(S.CreateKeyPayload)
      .addSuccess(S.CreatedKey, created)
      // 403 at the organization's API-key quota
      .addError(LimitReached)
  )
  .add(
    HttpApiEndpoint.del("revokeKey", "/api/v1/orgs/:org/projects/:project/api-keys/:keyId")
      .setPath(Schema.Struct({ org: Schema.String, project: Schema.String, keyId: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
  )
  .addError(NotFound)
  .addError(Forbidden) {}
