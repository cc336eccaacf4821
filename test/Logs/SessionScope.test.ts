/**
 * A session on the logs routes: its context is `org_system` (docs/decisions.md D6), so the search must find the
 * project's organization before the tenant is known, check the user's membership there, and read under that
 * organization. Real Postgres as the app role (row-level security on): under `org_system` no row would be visible.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { RequestLimiter } from "../../src/Http/RequestLimiter.js"
import { Ingest } from "../../src/Logs/Ingest.js"
import { ProjectScope } from "../../src/Logs/ProjectScope.js"
import { LogsQuery } from "../../src/Logs/Query.js"
import { RequestContext, SYSTEM_ORGANIZATION_ID, type OrganizationId, type UserId } from "../../src/RequestContext.js"
import { asOwner } from "../support/Database.js"
import { keyContext, logsServices, seededDatabase } from "./Fixtures.js"

const Db = seededDatabase("logs-session")
const Services = Layer.mergeAll(logsServices(Db), ProjectScope.Default).pipe(
  Layer.provideMerge(Layer.merge(Db, RequestLimiter.allowAll))
)

// alice is a member of org_a only; bob of nothing
const seedUsers = asOwner((c) =>
  c.query(`
    INSERT INTO users (id, email, name, password_hash) VALUES
      ('usr_alice', 'alice@example.test', 'Alice', 'x'), ('usr_bob', 'bob@example.test', 'Bob', 'x');
    INSERT INTO organization_members (organization_id, user_id, role) VALUES ('org_a', 'usr_alice', 'member');
  `)
)

const session = (user: string, organizationId: OrganizationId = SYSTEM_ORGANIZATION_ID) =>
  RequestContext.make({ origin: "http", actor: { _tag: "user", userId: user as UserId }, organizationId })

const range = { from: new Date("2026-03-01T00:00:00Z"), to: new Date("2026-03-02T00:00:00Z") }
const at = "2026-03-01T12:00:00.000Z"

layer(Services, { timeout: 60_000 })("Logs search with a session principal", (it) => {
  it.effect("a member reads the project under its organization; others get 404 whatever the reason", () =>
    Effect.gen(function* () {
      yield* seedUsers
      const ingest = yield* Ingest
      const query = yield* LogsQuery
      const log = (message: string, trace: string) => ({
        service: "api",
        level: "warn",
        message,
        time: at,
        trace_id: trace
      })
      yield* ingest
        .ingest([log("a one", "tr-a"), log("a two", "tr-a")])
        .pipe(RequestContext.withContext(keyContext("a")))
      yield* ingest.ingest([log("b one", "tr-b")]).pipe(RequestContext.withContext(keyContext("b")))

      const alice = session("usr_alice")
      const found = yield* query.search({ projectId: "prj_a", ...range }).pipe(RequestContext.withContext(alice))
      expect(found.logs.map((l) => l.message).sort()).toEqual(["a one", "a two"])
      expect(found.logs.every((l) => l.project_id === "prj_a")).toBe(true)

      const stats = yield* query
        .stats({ projectId: "prj_a", ...range, interval: 86_400 })
        .pipe(RequestContext.withContext(alice))
      expect(stats.buckets.reduce((n, b) => n + b.levels.warn, 0)).toBe(2)

      const trace = yield* query.trace("tr-a", { projectId: "prj_a", ...range }).pipe(RequestContext.withContext(alice))
      expect(trace.logs).toHaveLength(2)

      // another organization's project, an unknown one, a malformed id, a non-member: all the same 404
      const refused = (user: string, projectId: string | undefined, org?: OrganizationId) =>
        query.search({ projectId, ...range }).pipe(
          RequestContext.withContext(session(user, org)),
          Effect.either,
          Effect.map((e) => (Either.isLeft(e) ? e.left._tag : "ok"))
        )
      expect(yield* refused("usr_alice", "prj_b")).toBe("ProjectNotFound")
      expect(yield* refused("usr_alice", "prj_nope")).toBe("ProjectNotFound")
      expect(yield* refused("usr_alice", "not a project")).toBe("ProjectNotFound")
      expect(yield* refused("usr_bob", "prj_a")).toBe("ProjectNotFound")
      // a session already scoped to another organization cannot reach into org_a, even as a member of it
      expect(yield* refused("usr_alice", "prj_a", "org_b" as OrganizationId)).toBe("ProjectNotFound")
      expect(yield* refused("usr_alice", undefined)).toBe("InvalidQuery")
      const statsRefused = yield* query
        .stats({ projectId: "prj_b", ...range })
        .pipe(RequestContext.withContext(session("usr_alice")), Effect.flip)
      expect(statsRefused._tag).toBe("ProjectNotFound")
    })
  )

  it.effect("the work runs under the project's context (org_a, prj_a), same user and request id", () =>
    Effect.gen(function* () {
      const scope = yield* ProjectScope
      const outer = session("usr_alice")
      const inner = yield* scope.within("prj_a", () => RequestContext.current).pipe(RequestContext.withContext(outer))
      expect(inner).toEqual({ ...outer, organizationId: "org_a", projectId: "prj_a" })
      // offset mode also runs the planner estimate: under org_system's RLS it and the page would see nothing
      const query = yield* LogsQuery
      const found = yield* query
        .search({ projectId: "prj_a", ...range, offset: 0 })
        .pipe(RequestContext.withContext(outer))
      expect(found.logs.length).toBe(2)
    })
  )
})
