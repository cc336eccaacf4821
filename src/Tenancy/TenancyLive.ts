/**
 * The services the tenancy handlers and the HTTP layer's `Credentials`/`OrgDirectory` run on, as one layer over
 * Postgres (`SqlClient`), Redis (`QueueRedis`, for the brute-force counters) and `AppConfig`. One `ApiKeyCache` is
 * shared by the credential lookups and the revoke handler, so revoking evicts the key on this instance at once.
 */
import { Layer } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { ApiKeysRepo } from "../Sql/ApiKeysRepo.js"
import { InvitationsRepo } from "../Sql/InvitationsRepo.js"
import { MembersRepo } from "../Sql/MembersRepo.js"
import { OrganizationsRepo } from "../Sql/OrganizationsRepo.js"
import { ProjectsRepo } from "../Sql/ProjectsRepo.js"
import { SessionsRepo } from "../Sql/SessionsRepo.js"
import { UsersRepo } from "../Sql/UsersRepo.js"
import { ApiKeyCache } from "./ApiKeyCache.js"
import { BruteForce } from "./BruteForce.js"
import { CredentialsLive } from "./CredentialsLive.js"
import { TenancyConfig } from "./TenancyConfig.js"
import { InvitationMailer } from "./InvitationMailer.js"

/** The repositories, the audit log and the invitation mailer: what the handlers read. */
export const TenancyReposLive = Layer.mergeAll(
  UsersRepo.Default,
  SessionsRepo.Default,
  OrganizationsRepo.Default,
  MembersRepo.Default,
  ProjectsRepo.Default,
  ApiKeysRepo.Default,
  InvitationsRepo.Default,
  AuditLog.Default,
  InvitationMailer.Default,
  TenancyConfig.Default
)

/** Credentials + OrgDirectory + everything the handlers read; the cache is built once and shared. */
export const TenancyLive = Layer.mergeAll(CredentialsLive, BruteForce.Default).pipe(
  Layer.provideMerge(ApiKeyCache.Default),
  Layer.provideMerge(TenancyReposLive)
)
