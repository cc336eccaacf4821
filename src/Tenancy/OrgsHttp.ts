/**
 * Handlers of the `orgs` group: one organization's members, projects and API keys. Every route goes through
 * OrgAccess (404 for non-members and unknown organizations alike, 403 below the role) and runs under the
 * organization's context; reads need `member`, changes `admin`. Every change is audited in its own transaction.
 * Malformed ids in the path are answered 404, like unknown ones.
 */
import { Effect, Option, Redacted, Schema } from "effect"
import { AuditLog } from "../Audit/AuditLog.js"
import { Conflict, Forbidden, NotFound } from "../Http/Errors.js"
import { OrgAccess } from "../Http/OrgAccess.js"
import { Quotas } from "../Limits/Quotas.js"
import { ApiKeyId, makeId, ProjectId, RequestContext, UserId } from "../RequestContext.js"
import { ApiKeysRepo, type ApiKey } from "../Sql/ApiKeysRepo.js"
import { InvitationsRepo } from "../Sql/InvitationsRepo.js"
import { MembersRepo, type Member } from "../Sql/MembersRepo.js"
import { OrganizationsRepo } from "../Sql/OrganizationsRepo.js"
import { ProjectsRepo, type Project } from "../Sql/ProjectsRepo.js"
import { ApiKeyCache } from "./ApiKeyCache.js"
import type { CreateKeyPayload, CreateProjectPayload } from "./TenancySchemas.js"
import { mintApiKey } from "./Tokens.js"
import { type ListQuery, pageOf, pageRequest } from "./ListPage.js"

type OrgPath = { readonly path: { readonly org: string } }
type ProjectPath = { readonly path: { readonly org: string; readonly project: string } }
type Listing = { readonly urlParams: ListQuery }

const parseId =
  <A>(schema: Schema.Schema<A, string>, what: string) =>
  (value: string): Effect.Effect<A, NotFound> =>
    Option.match(Schema.decodeUnknownOption(schema)(value), {
      onNone: () => Effect.fail(new NotFound({ message: `${what} not found` })),
      onSome: Effect.succeed
    })
const projectId = parseId(ProjectId, "project")
const keyId = parseId(ApiKeyId, "API key")
const userId = parseId(UserId, "member")

/** A mutation that found nothing fails inside its transaction, so no audit row is written for it. */
const gone = (what: string) => () => new NotFound({ message: `${what} not found` })

const memberView = (m: Member) => ({
  userId: m.userId,
  email: m.email,
  name: m.name,
  role: m.role,
  createdAt: m.createdAt.toISOString()
})
const projectView = (p: Project) => ({ id: p.id, name: p.name, createdAt: p.createdAt.toISOString() })
const keyView = (k: ApiKey) => ({
  id: k.id,
  projectId: k.projectId,
  name: k.name,
  type: k.type,
  prefix: k.prefix,
  createdAt: k.createdAt.toISOString(),
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  revokedAt: k.revokedAt?.toISOString() ?? null
})

/** The project of the path, in the context's organization, or 404. */
const existingProject = (raw: string) =>
  Effect.gen(function* () {
    const id = yield* projectId(raw)
    const found = yield* (yield* ProjectsRepo).find(id)
    return yield* Option.match(found, {
      onNone: () => Effect.fail(new NotFound({ message: "project not found" })),
      onSome: Effect.succeed
    })
  })

export const getOrg = ({ path }: OrgPath) =>
  OrgAccess.run(path.org, "member", (access) =>
    Effect.gen(function* () {
      const org = yield* (yield* OrganizationsRepo).current
      if (Option.isNone(org)) return yield* new NotFound({ message: "organization not found" })
      return { id: org.value.id, slug: org.value.slug, name: org.value.name, role: access.role }
    })
  )

export const listMembers = ({ path, urlParams }: OrgPath & Listing) =>
  OrgAccess.run(path.org, "member", () =>
    Effect.gen(function* () {
      const request = yield* pageRequest(urlParams)
      const page = pageOf(yield* (yield* MembersRepo).listPage(request), request, (m) => m.userId)
      return { members: page.items.map(memberView), nextCursor: page.nextCursor }
    })
  )

export const removeMember = ({ path }: { readonly path: { readonly org: string; readonly userId: string } }) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.gen(function* () {
      const id = yield* userId(path.userId)
      const caller = (yield* RequestContext).userId
      const members = yield* MembersRepo
      yield* (yield* AuditLog).audited(
        Effect.gen(function* () {
          // owners first, locked for the rest of this transaction: both checks below hold until the delete commits
          const owners = yield* members.lockOwners
          const target = yield* members.find(id)
          if (Option.isNone(target)) return yield* new NotFound({ message: "member not found" })
          if (target.value.role === "owner") {
            if (caller === null || !owners.includes(caller)) {
              return yield* new Forbidden({ message: "only an owner can remove an owner" })
            }
            if (owners.length <= 1) return yield* new Conflict({ message: "an organization keeps at least one owner" })
          }
          // the invitations they created go with them (else they could rejoin with one); revoked before the
          // delete, in the order an accept locks (invitation, then membership), so the two never deadlock
          const revoked = yield* (yield* InvitationsRepo).revokeCreatedBy(id)
          for (const i of revoked) {
            yield* (yield* AuditLog).record({
              action: "invitation.revoke",
              target: { type: "invitation", id: i.id },
              changes: { email: i.email, reason: "creator removed" }
            })
          }
          return yield* Effect.filterOrFail(members.remove(id), Boolean, gone("member"))
        }),
        () => ({ action: "member.remove", target: { type: "user", id } })
      )
    })
  )

export const listProjects = ({ path, urlParams }: OrgPath & Listing) =>
  OrgAccess.run(path.org, "member", () =>
    Effect.gen(function* () {
      const request = yield* pageRequest(urlParams)
      const page = pageOf(yield* (yield* ProjectsRepo).listPage(request), request, (p) => p.id)
      return { projects: page.items.map(projectView), nextCursor: page.nextCursor }
    })
  )

export const createProject = ({ path, payload }: OrgPath & { readonly payload: typeof CreateProjectPayload.Type }) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.gen(function* () {
      const projects = yield* ProjectsRepo
      const id = ProjectId.make(makeId("prj"))
      const project = yield* (yield* AuditLog)
        .audited(projects.insert({ id, name: payload.name }), (p) => ({
          action: "project.create",
          target: { type: "project", id: p.id },
          changes: { name: p.name }
        }))
        .pipe(Effect.catchTag("Sql/DuplicateKey", () => new Conflict({ message: "a project with this name exists" })))
      return projectView(project)
    })
  )

export const getProject = ({ path }: ProjectPath) =>
  OrgAccess.run(path.org, "member", () => Effect.map(existingProject(path.project), projectView))

export const deleteProject = ({ path }: ProjectPath) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.gen(function* () {
      const id = yield* projectId(path.project)
      const projects = yield* ProjectsRepo
      const keys = yield* ApiKeysRepo
      const cache = yield* ApiKeyCache
      // The project's keys die with it (cascade): evict them here so this instance refuses them at once.
      const doomed = yield* keys.list(id)
      yield* (yield* AuditLog).audited(Effect.filterOrFail(projects.remove(id), Boolean, gone("project")), () => ({
        action: "project.delete",
        target: { type: "project", id }
      }))
      yield* Effect.forEach(doomed, (k) => cache.evictKey(k.id), { discard: true })
    })
  )

export const listKeys = ({ path, urlParams }: ProjectPath & Listing) =>
  OrgAccess.run(path.org, "member", () =>
    Effect.gen(function* () {
      const project = yield* existingProject(path.project)
      const request = yield* pageRequest(urlParams)
      const page = pageOf(yield* (yield* ApiKeysRepo).listPage(project.id, request), request, (k) => k.id)
      return { keys: page.items.map(keyView), nextCursor: page.nextCursor }
    })
  )

export const createKey = ({ path, payload }: ProjectPath & { readonly payload: typeof CreateKeyPayload.Type }) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.gen(function* () {
      const project = yield* existingProject(path.project)
      const ctx = yield* RequestContext
      const minted = mintApiKey()
      const keys = yield* ApiKeysRepo
      const quotas = yield* Quotas
      const key = yield* (yield* AuditLog)
        .audited(
          // the limit is checked in the inserting transaction (an advisory lock per organization serializes
          // concurrent creations), so two requests at limit − 1 cannot both pass
          Effect.zipRight(
            quotas.checkCreate("apiKeys"),
            keys.insert({
              id: ApiKeyId.make(makeId("key")),
              projectId: project.id,
              name: payload.name,
              type: payload.type,
              keyHash: minted.hash,
              prefix: minted.prefix,
              createdBy: ctx.userId
            })
          ),
          (k) => ({
            action: "api_key.create",
            target: { type: "api_key", id: k.id },
            changes: { name: k.name, type: k.type, prefix: k.prefix, projectId: k.projectId }
          })
        )
        .pipe(Effect.catchTag("Sql/DuplicateKey", Effect.die))
      return { ...keyView(key), secret: Redacted.value(minted.secret) }
    })
  )

export const revokeKey = ({
  path
}: {
  readonly path: { readonly org: string; readonly project: string; readonly keyId: string }
}) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.gen(function* () {
      const project = yield* existingProject(path.project)
      const id = yield* keyId(path.keyId)
      const keys = yield* ApiKeysRepo
      const cache = yield* ApiKeyCache
      yield* (yield* AuditLog).audited(
        Effect.gen(function* () {
          const inProject = (yield* keys.list(project.id)).some((k) => k.id === id && k.revokedAt === null)
          if (!inProject) return yield* gone("API key")()
          return yield* Effect.filterOrFail(keys.revoke(id), Boolean, gone("API key"))
        }),
        () => ({ action: "api_key.revoke", target: { type: "api_key", id } })
      )
      yield* cache.evictKey(id)
    })
  )
