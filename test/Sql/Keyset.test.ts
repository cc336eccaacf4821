/**
 * Keyset pages of the tenancy lists (src/Sql/Keyset.ts, src/Tenancy/ListPage.ts) on the real schema: rows created
 * within one millisecond (distinct microseconds) and rows with the very same timestamp (ordered by id) are each shown
 * exactly once, in order, whatever the page size, including pages cut between them; a row added behind the cursor
 * does not shift the next page; another organization's rows never appear; a cursor this API did not return is a 400.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { BadRequest } from "../../src/Http/Errors.js"
import { RequestContext } from "../../src/RequestContext.js"
import { ApiKeysRepo } from "../../src/Sql/ApiKeysRepo.js"
import type { KeysetPage } from "../../src/Sql/Keyset.js"
import { MembersRepo } from "../../src/Sql/MembersRepo.js"
import { OrganizationsRepo } from "../../src/Sql/OrganizationsRepo.js"
import { ProjectsRepo } from "../../src/Sql/ProjectsRepo.js"
import { type ListQuery, pageOf, pageRequest } from "../../src/Tenancy/ListPage.js"
import { asOwner, TestDatabase } from "../support/Database.js"
import { ReposLive, seedTenant, tenant } from "./Fixtures.js"

const t = tenant("keyset")
const other = tenant("keysetother")
const Env = ReposLive.pipe(Layer.provideMerge(TestDatabase.layer("keyset")))

/** Same millisecond, different microseconds; then two rows at the very same instant (ties broken by id). */
const STAMPS = [
  "2026-01-01 00:00:00.100000+00",
  "2026-01-01 00:00:00.100001+00",
  "2026-01-01 00:00:00.100999+00",
  "2026-01-01 00:00:00.200000+00",
  "2026-01-01 00:00:00.200000+00",
  "2026-01-01 00:00:00.200500+00",
  "2026-01-01 00:00:01.000000+00"
]

/** Walks every page of `fetch` with page size `size`, through the cursors the API would return. */
const walk = <A extends { readonly cursorAt: string }, R>(
  size: number,
  fetch: (page: KeysetPage) => Effect.Effect<ReadonlyArray<A>, never, R>,
  idOf: (a: A) => string
) =>
  Effect.gen(function* () {
    const seen: Array<string> = []
    let query: ListQuery = { limit: size }
    for (let pages = 0; pages < 50; pages++) {
      const request = yield* pageRequest(query)
      const page = pageOf(yield* fetch(request), request, idOf)
      expect(page.items.length).toBeLessThanOrEqual(size)
      seen.push(...page.items.map(idOf))
      if (page.nextCursor === null) return seen
      query = { limit: size, cursor: page.nextCursor }
    }
    return seen
  })

layer(Env, { timeout: 60_000 })("keyset pages", (it) => {
  it.effect("rows within one millisecond and exact ties are shown once each, in order, at every page size", () =>
    Effect.gen(function* () {
      yield* Effect.zipRight(seedTenant(t), seedTenant(other))
      // the seeded project first, then seven more at chosen instants (ids chosen so that ties sort by id)
      yield* asOwner(async (c) => {
        await c.query("UPDATE projects SET created_at = '2025-12-31 00:00:00+00' WHERE id = $1", [t.project])
        await c.query(
          `INSERT INTO projects (id, organization_id, name, created_at)
           SELECT 'prj_k' || i, $1, 'p' || i, ($2::text[])[i]::timestamptz FROM generate_series(1, 7) i`,
          [t.org, STAMPS]
        )
      })
      const expected = [t.project, ...STAMPS.map((_, i) => `prj_k${i + 1}`)]
      const projects = yield* ProjectsRepo
      for (const size of [1, 2, 3, 7, 8, 100]) {
        const ids = yield* walk(size, projects.listPage, (p) => p.id).pipe(RequestContext.withContext(t.userCtx))
        expect([size, ids]).toEqual([size, expected])
      }
      // the other organization sees its own project only
      const theirs = yield* walk(2, projects.listPage, (p) => p.id).pipe(RequestContext.withContext(other.userCtx))
      expect(theirs).toEqual([other.project])
    })
  )

  it.effect("a row added behind the cursor does not shift the next page; members, keys, organizations page too", () =>
    Effect.gen(function* () {
      const projects = yield* ProjectsRepo
      const first = yield* pageRequest({ limit: 3 })
      const page1 = pageOf(yield* projects.listPage(first), first, (p) => p.id)
      expect(page1.items.map((p) => p.id)).toEqual([t.project, "prj_k1", "prj_k2"])
      yield* asOwner((c) =>
        c.query(
          "INSERT INTO projects (id, organization_id, name, created_at) VALUES ('prj_k0', $1, 'early', '2025-06-01')",
          [t.org]
        )
      )
      const next = yield* pageRequest({ limit: 3, cursor: page1.nextCursor ?? "" })
      const page2 = pageOf(yield* projects.listPage(next), next, (p) => p.id)
      expect(page2.items.map((p) => p.id)).toEqual(["prj_k3", "prj_k4", "prj_k5"])

      const members = yield* walk(1, (yield* MembersRepo).listPage, (m) => m.userId)
      expect(members).toEqual([t.user])
      const keys = yield* walk(
        1,
        (page) => Effect.flatMap(ApiKeysRepo, (k) => k.listPage(t.project, page)),
        (k) => k.id
      )
      expect(keys).toEqual([t.key])
      const orgs = yield* walk(
        1,
        (page) => Effect.flatMap(OrganizationsRepo, (o) => o.listForUserPage(t.user, page)),
        (o) => o.organizationId
      )
      expect(orgs).toEqual([t.org])
    }).pipe(RequestContext.withContext(t.userCtx))
  )

  it.effect(
    "a cursor this API did not return is refused; a millisecond cursor of the previous version is accepted",
    () =>
      Effect.gen(function* () {
        const forged = [
          "l:not-a-date|prj_x",
          "l:2026-02-30T00:00:00.000000Z|prj_x",
          "l:0000-01-01T00:00:00.000000Z|prj_x"
        ]
        for (const cursor of ["", "garbage", ...forged.map((c) => Buffer.from(c).toString("base64url"))]) {
          const exit = yield* Effect.exit(pageRequest({ cursor }))
          expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error instanceof BadRequest).toBe(
            true
          )
        }
        const old = Buffer.from("l:2026-01-01T00:00:00.200Z|prj_k4").toString("base64url")
        const request = yield* pageRequest({ cursor: old, limit: 10 })
        const page = pageOf(
          yield* (yield* ProjectsRepo).listPage(request).pipe(RequestContext.withContext(t.userCtx)),
          request,
          (p) => p.id
        )
        expect(page.items.map((p) => p.id)).toEqual(["prj_k5", "prj_k6", "prj_k7"])
      })
  )
})
