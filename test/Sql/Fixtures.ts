/**
 * Two tenants, "alpha" and "bravo", with a row in every tenant table, written through the repositories under
 * each tenant's own context (tables without a repository here are seeded as the owner). Every alpha id contains
 * "alpha", so a result that mentions "alpha" under a bravo context is a leak.
 */
import { Effect, Layer } from "effect"
import {
  type ApiKeyId,
  type OrganizationId,
  type ProjectId,
  RequestContext,
  type RequestContextData,
  type UserId
} from "../../src/RequestContext.js"
import { AuditLog } from "../../src/Audit/AuditLog.js"
import { ApiKeysRepo } from "../../src/Sql/ApiKeysRepo.js"
import { MembersRepo } from "../../src/Sql/MembersRepo.js"
import { OrganizationsRepo } from "../../src/Sql/OrganizationsRepo.js"
import { ProjectsRepo } from "../../src/Sql/ProjectsRepo.js"
import { SessionsRepo } from "../../src/Sql/SessionsRepo.js"
import { UsersRepo } from "../../src/Sql/UsersRepo.js"
import { asOwner } from "../support/Database.js"

export const ReposLive = Layer.mergeAll(
  OrganizationsRepo.Default,
  MembersRepo.Default,
  ProjectsRepo.Default,
  ApiKeysRepo.Default,
  UsersRepo.Default,
  SessionsRepo.Default,
  AuditLog.Default
)

export interface Tenant {
  readonly org: OrganizationId
  readonly slug: string
  readonly user: UserId
  readonly project: ProjectId
  readonly key: ApiKeyId
  readonly userCtx: RequestContextData
  readonly keyCtx: RequestContextData
}

export const tenant = (name: string): Tenant => {
  const org = `org_${name}` as OrganizationId
  const user = `usr_${name}` as UserId
  const project = `prj_${name}` as ProjectId
  const key = `key_${name}` as ApiKeyId
  return {
    org,
    slug: `${name}-org`,
    user,
    project,
    key,
    userCtx: RequestContext.make({ origin: "http", actor: { _tag: "user", userId: user }, organizationId: org }),
    keyCtx: RequestContext.make({
      origin: "http",
      actor: { _tag: "apiKey", apiKeyId: key },
      organizationId: org,
      projectId: project
    })
  }
}

export const alpha = tenant("alpha")
export const bravo = tenant("bravo")

/** Tables with an organization column that the repositories above do not cover. */
const seedOtherTables = (t: Tenant) =>
  asOwner(
    (c) =>
      c.query(`
    INSERT INTO alert_rules (id, organization_id, project_id, name, levels, threshold, window_minutes, webhook_url)
      VALUES ('alr_${t.org}', '${t.org}', '${t.project}', 'r', '{error}', 1, 5, 'https://example.test/h');
    INSERT INTO alert_events (id, organization_id, project_id, rule_id, rule_name, count, threshold, window_minutes,
        window_from, window_to)
      VALUES ('evt_${t.org}', '${t.org}', '${t.project}', 'alr_${t.org}', 'r', 3, 1, 5, now(), now());
    INSERT INTO webhook_deliveries (id, organization_id, project_id, alert_event_id, rule_id, url, payload)
      VALUES ('whd_${t.org}', '${t.org}', '${t.project}', 'evt_${t.org}', 'alr_${t.org}', 'https://example.test/h',
        '{"k":"${t.org}"}');
    INSERT INTO webhook_attempts (organization_id, delivery_id, attempt, status_code, duration_ms)
      VALUES ('${t.org}', 'whd_${t.org}', 1, 500, 12);
    INSERT INTO usage_counters (organization_id, month, ingest_events, ingest_bytes)
      VALUES ('${t.org}', date_trunc('month', now())::date, 10, 1000);
    INSERT INTO organization_limits (organization_id, api_keys, updated_by) VALUES ('${t.org}', 5, '${t.user}');
    INSERT INTO logs (time, organization_id, project_id, service, level, message)
      VALUES (now(), '${t.org}', '${t.project}', 'svc', 'error', 'message of ${t.org}');
  `) // ids are fixed test literals, not input
  )

export const seedTenant = (t: Tenant) =>
  Effect.gen(function* () {
    const users = yield* UsersRepo
    const orgs = yield* OrganizationsRepo
    const members = yield* MembersRepo
    const projects = yield* ProjectsRepo
    const keys = yield* ApiKeysRepo
    const audit = yield* AuditLog
    yield* users.insert({ id: t.user, email: `${t.user}@example.test`, name: t.user, passwordHash: "x" })
    yield* Effect.gen(function* () {
      yield* orgs.insert({ slug: t.slug, name: `Org ${t.org}` })
      yield* members.add({ userId: t.user, role: "owner" })
      yield* projects.insert({ id: t.project, name: `Project ${t.project}` })
      yield* keys.insert({
        id: t.key,
        projectId: t.project,
        name: `key ${t.key}`,
        type: "full",
        keyHash: `hash_${t.key}`,
        prefix: "tl_abcd",
        createdBy: t.user
      })
      yield* audit.record({ action: `${t.org}.secret`, target: { type: "project", id: t.project } })
    }).pipe(RequestContext.withContext(t.userCtx))
    yield* seedOtherTables(t)
  })

export const TENANT_TABLES = [
  "organizations",
  "organization_members",
  "projects",
  "api_keys",
  "logs",
  "alert_rules",
  "alert_events",
  "webhook_deliveries",
  "webhook_attempts",
  "audit_log",
  "usage_counters",
  "organization_limits"
] as const
