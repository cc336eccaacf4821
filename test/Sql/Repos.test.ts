/** The tenancy repositories' own behaviour; isolation between tenants is CrossTenant.test.ts. */
import { expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option } from "effect"
import { type ApiKeyId, type ProjectId, RequestContext, type UserId } from "../../src/RequestContext.js"
import { ApiKeysRepo } from "../../src/Sql/ApiKeysRepo.js"
import { MembersRepo } from "../../src/Sql/MembersRepo.js"
import { OrganizationsRepo } from "../../src/Sql/OrganizationsRepo.js"
import { ProjectsRepo } from "../../src/Sql/ProjectsRepo.js"
import { DuplicateKey } from "../../src/Sql/RepoSupport.js"
import { SessionsRepo } from "../../src/Sql/SessionsRepo.js"
import { Tenant } from "../../src/Sql/Tenant.js"
import { UsersRepo } from "../../src/Sql/UsersRepo.js"
import { TestDatabase } from "../support/Database.js"
import { ReposLive, seedTenant, tenant } from "./Fixtures.js"

const t = tenant("repo")
const other = tenant("other")
const Env = ReposLive.pipe(Layer.provideMerge(TestDatabase.layer("repos")))

layer(Env, { timeout: 60_000 })("repositories", (it) => {
  it.effect("setup", () => Effect.zipRight(seedTenant(t), seedTenant(other)))

  it.effect("organizations: duplicate slug, update, membership by id or slug, listForUser", () =>
    Effect.gen(function* () {
      const orgs = yield* OrganizationsRepo
      const dup = yield* Effect.flip(
        orgs.insert({ slug: t.slug, name: "again" }).pipe(RequestContext.withContext(tenant("newone").userCtx))
      )
      expect(dup).toEqual(new DuplicateKey({ constraint: "organizations_slug_key" }))
      const updated = yield* orgs.update({ retentionDays: 7 }).pipe(RequestContext.withContext(t.userCtx))
      expect(Option.map(updated, (o) => [o.id, o.retentionDays, o.name])).toEqual(
        Option.some([t.org, 7, "Org org_repo"])
      )
      for (const key of [t.org, t.slug]) {
        const m = yield* orgs.membership(key, t.user)
        expect(Option.map(m, (x) => [x.organizationId, x.role, x.retentionDays])).toEqual(
          Option.some([t.org, "owner", 7])
        )
      }
      expect(yield* orgs.membership(t.slug, other.user)).toEqual(Option.none())
      expect((yield* orgs.listForUser(t.user)).map((o) => o.organizationId)).toEqual([t.org])
      const system = yield* orgs.remove.pipe(RequestContext.withContext(RequestContext.system("x")))
      expect(system).toBe(false)
    })
  )

  it.effect("members: duplicate, role change, owner count, removal", () =>
    Effect.gen(function* () {
      const members = yield* MembersRepo
      expect(yield* Effect.flip(members.add({ userId: t.user, role: "member" }))).toBeInstanceOf(DuplicateKey)
      const added = yield* members.add({ userId: other.user, role: "member" })
      expect([added.userId, added.role, added.email]).toEqual([other.user, "member", `${other.user}@example.test`])
      expect(yield* members.setRole(other.user, "owner")).toBe(true)
      expect(yield* members.countOwners).toBe(2)
      expect(yield* members.remove(other.user)).toBe(true)
      expect(yield* members.remove(other.user)).toBe(false)
      expect((yield* members.listPage({ after: undefined, limit: 101 })).map((m) => m.userId)).toEqual([t.user])
    }).pipe(RequestContext.withContext(t.userCtx))
  )

  it.effect("projects: a duplicate name inside a larger transaction leaves that transaction usable", () =>
    Effect.gen(function* () {
      const projects = yield* ProjectsRepo
      const result = yield* Tenant.transaction(
        Effect.gen(function* () {
          const dup = yield* Effect.flip(projects.insert({ id: "prj_dup" as ProjectId, name: `Project ${t.project}` }))
          const made = yield* projects.insert({ id: "prj_second" as ProjectId, name: "second" })
          return [dup._tag, made.id]
        })
      )
      expect(result).toEqual(["Sql/DuplicateKey", "prj_second"])
      expect(Option.map(yield* projects.rename("prj_second" as ProjectId, "2nd"), (p) => p.name)).toEqual(
        Option.some("2nd")
      )
      expect((yield* projects.listPage({ after: undefined, limit: 101 })).map((p) => p.id)).toEqual([
        t.project,
        "prj_second"
      ])
      expect(yield* projects.remove("prj_second" as ProjectId)).toBe(true)
      const current = yield* projects.current.pipe(RequestContext.withContext(t.keyCtx))
      expect(Option.map(current, (p) => p.id)).toEqual(Option.some(t.project))
      expect(yield* projects.current).toEqual(Option.none())
    }).pipe(RequestContext.withContext(t.userCtx))
  )

  it.effect("API keys: lookup by hash until revoked, touch at most once a minute, project of another org refused", () =>
    Effect.gen(function* () {
      const keys = yield* ApiKeysRepo
      const found = yield* keys.findActiveByHash(`hash_${t.key}`)
      expect(found).toEqual(Option.some({ id: t.key, organizationId: t.org, projectId: t.project, type: "full" }))
      expect(yield* keys.touch.pipe(RequestContext.withContext(t.keyCtx))).toBe(true)
      expect(yield* keys.touch.pipe(RequestContext.withContext(t.keyCtx))).toBe(false)
      const foreign = yield* Effect.exit(
        keys
          .insert({
            id: "key_foreign" as ApiKeyId,
            projectId: other.project,
            name: "x",
            type: "write",
            keyHash: "h_foreign",
            prefix: "tl_x",
            createdBy: null
          })
          .pipe(RequestContext.withContext(t.userCtx))
      )
      expect(Exit.isFailure(foreign) && Cause.isDie(foreign.cause)).toBe(true)
      expect(yield* keys.revoke(t.key).pipe(RequestContext.withContext(t.userCtx))).toBe(true)
      expect(yield* keys.findActiveByHash(`hash_${t.key}`)).toEqual(Option.none())
      expect(yield* keys.countActive.pipe(RequestContext.withContext(t.userCtx))).toBe(0)
    })
  )

  it.effect("users: email unique case-insensitively and found case-insensitively", () =>
    Effect.gen(function* () {
      const users = yield* UsersRepo
      const dup = yield* Effect.flip(
        users.insert({
          id: "usr_dup" as UserId,
          email: `${t.user}@EXAMPLE.test`.toUpperCase(),
          name: "d",
          passwordHash: "x"
        })
      )
      expect(dup).toEqual(new DuplicateKey({ constraint: "users_email_key" }))
      const found = yield* users.findByEmail(`${t.user}@Example.TEST`)
      expect(Option.map(found, (u) => [u.id, u.passwordHash])).toEqual(Option.some([t.user, "x"]))
      expect(Option.map(yield* users.findById(t.user), (u) => u.email)).toEqual(Option.some(`${t.user}@example.test`))
    })
  )

  it.effect("sessions: active until expired or revoked; touch slides the expiry", () =>
    Effect.gen(function* () {
      const sessions = yield* SessionsRepo
      const inAnHour = new Date(Date.now() + 3_600_000)
      yield* sessions.insert({
        id: "ses_1",
        userId: t.user,
        tokenHash: "th1",
        expiresAt: inAnHour,
        userAgent: null,
        ip: null
      })
      yield* sessions.insert({
        id: "ses_old",
        userId: t.user,
        tokenHash: "th_old",
        expiresAt: new Date(Date.now() - 1000),
        userAgent: "ua",
        ip: "127.0.0.1"
      })
      expect(Option.map(yield* sessions.findActiveByTokenHash("th1"), (s) => s.id)).toEqual(Option.some("ses_1"))
      expect(yield* sessions.findActiveByTokenHash("th_old")).toEqual(Option.none())
      const later = new Date(Date.now() + 7_200_000)
      expect(yield* sessions.touch("ses_1", later)).toBe(true)
      expect(Option.map(yield* sessions.findActiveByTokenHash("th1"), (s) => s.expiresAt.getTime())).toEqual(
        Option.some(later.getTime())
      )
      expect(yield* sessions.touch("ses_old", later)).toBe(false)
      expect(yield* sessions.revoke("ses_1")).toBe(true)
      expect(yield* sessions.findActiveByTokenHash("th1")).toEqual(Option.none())
    })
  )
})
