/**
 * The tenant wall on the database side. Tenant tables have policies comparing their organization column with the
 * transaction-local setting `threadline.organization_id`; `Tenant.transaction` sets it from the RequestContext, so
 * a statement outside it (or in another tenant's transaction) sees and writes none of the tenant's rows.
 *
 * `Tenant.bypass(reason, effect)` is the one way across tenants (retention, partition maintenance, scheduler
 * fan-out): only a system context may use it; it runs in a transaction of the owner pool (DATABASE_OWNER_URL, a
 * superuser or BYPASSRLS login) and writes an audit row `tenant.bypass` naming the reason in the same transaction.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, FiberRef, Option } from "effect"
import { RequestContext } from "../RequestContext.js"
import { APP_ROLE, ownerOf, ReadSql } from "./Client.js"

export const TENANT_SETTING = "threadline.organization_id"
export const BYPASS_SETTING = "threadline.bypass"

/** What the enclosing transaction was opened for: nested transactions keep or restore it, never mix kinds. */
type Scope =
  | { readonly _tag: "tenant"; readonly sql: SqlClient.SqlClient; readonly organizationId: string }
  | { readonly _tag: "bypass"; readonly sql: SqlClient.SqlClient }
const currentScope = FiberRef.unsafeMake<Option.Option<Scope>>(Option.none())

/** Carries the caller's own failure through `withTransaction` (which must see a failure to roll back). */
class Inner<E> {
  readonly _tag = "Sql/Tenant/Inner"
  constructor(readonly error: E) {}
}

/**
 * Runs `effect` in a transaction on `sql` with failures of BEGIN/COMMIT/setup as defects (infrastructure) and
 * the effect's own failures passed through unchanged (after rollback).
 */
const inTransaction = <A, E, R>(
  sql: SqlClient.SqlClient,
  setup: Effect.Effect<unknown, SqlError>,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  sql
    .withTransaction(
      Effect.zipRight(
        setup,
        Effect.mapError(effect, (e) => new Inner(e))
      )
    )
    .pipe(
      Effect.catchIf(
        (e): e is SqlError => !(e instanceof Inner),
        (e) => Effect.die(e)
      ),
      Effect.mapError((e) => e.error)
    )

/** Also switches to the app role, so the policies hold even on a connection that did not start as it. */
const setTenant = (sql: SqlClient.SqlClient, organizationId: string) =>
  sql`SELECT set_config('role', ${APP_ROLE}, true), set_config(${TENANT_SETTING}, ${organizationId}, true)`

const tenantOn = <A, E, R>(sql: SqlClient.SqlClient, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const ctx = yield* RequestContext
    // only a transaction of the same client nests (ReadSql may be another pool: its transaction is separate)
    const outer = Option.filter(yield* FiberRef.get(currentScope), (scope) => scope.sql === sql)
    const body = Effect.locally(
      effect,
      currentScope,
      Option.some<Scope>({ _tag: "tenant", sql, organizationId: ctx.organizationId })
    )
    if (Option.isNone(outer)) return yield* inTransaction(sql, setTenant(sql, ctx.organizationId), body)
    const scope = outer.value
    if (scope._tag === "bypass") {
      return yield* Effect.dieMessage("Tenant.transaction inside Tenant.bypass: open it after the bypass returns")
    }
    if (scope.organizationId === ctx.organizationId) return yield* inTransaction(sql, Effect.void, body)
    // A nested transaction for another organization (rare: creating an org) hands the setting back afterwards.
    const restoring = Effect.ensuring(body, Effect.orDie(setTenant(sql, scope.organizationId)))
    return yield* inTransaction(sql, setTenant(sql, ctx.organizationId), restoring)
  })

/** Runs `effect` in a transaction of the primary client scoped to the context's organization. */
const transaction = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | RequestContext | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => tenantOn(sql, effect))

/**
 * Runs `effect` inside the caller's tenant transaction when there is one for this client and organization (no
 * savepoint, no extra round trip), else in a new one. What the repositories use for statements that cannot fail
 * on a constraint; an operation that can (an insert) uses `transaction`, whose savepoint keeps the caller's
 * transaction usable when it handles the failure.
 */
const ensure = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | RequestContext | SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const ctx = yield* RequestContext
    const scope = yield* FiberRef.get(currentScope)
    const inside =
      Option.isSome(scope) &&
      scope.value._tag === "tenant" &&
      scope.value.sql === sql &&
      scope.value.organizationId === ctx.organizationId
    return yield* inside ? effect : tenantOn(sql, effect)
  })

/**
 * The application's own tenant filter, `column = <context organization>`, which repositories add to every
 * statement so isolation never rests on the policies alone. `withoutAppFilter` turns it into `TRUE` for the
 * tests that prove the policies stop cross-tenant access by themselves; nothing else may use it.
 */
const appFilterDisabled = FiberRef.unsafeMake(false)

const orgFilter = (sql: SqlClient.SqlClient, column = "organization_id") =>
  Effect.gen(function* () {
    const ctx = yield* RequestContext
    return (yield* FiberRef.get(appFilterDisabled)) ? sql.literal("TRUE") : sql`${sql(column)} = ${ctx.organizationId}`
  })

const withoutAppFilter = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, appFilterDisabled, true)

/** The same on the read client (search, stats): a read-only replica accepts the setting too. */
const read = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | RequestContext | ReadSql> =>
  Effect.flatMap(ReadSql, (sql) => tenantOn(sql, effect))

/**
 * The named, audited cross-tenant bypass. `reason` is a short stable name (`logs-retention`, `alerts-tick`); it is
 * recorded in `audit_log` (action `tenant.bypass`) and readable in SQL as `current_setting('threadline.bypass')`.
 * The transaction is the owner client's (registered with the app client, Client.ts `withOwner`); statements of the
 * app client inside `effect` run on it too (@effect/sql routes every statement to the enclosing transaction's
 * connection). It cannot be nested in a tenant transaction, nor a tenant transaction in it.
 */
const bypass = <A, E, R>(
  reason: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | RequestContext | SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const ctx = yield* RequestContext
    const actor = ctx.actor
    if (actor._tag !== "system") {
      return yield* Effect.dieMessage(`Tenant.bypass("${reason}") refused: only system work may cross tenants`)
    }
    const outer = Option.filter(yield* FiberRef.get(currentScope), (scope) => scope.sql === sql)
    if (Option.isSome(outer) && outer.value._tag === "tenant") {
      return yield* Effect.dieMessage(`Tenant.bypass("${reason}") inside Tenant.transaction is not allowed`)
    }
    const owner = ownerOf(sql)
    if (Option.isNone(owner)) {
      return yield* Effect.dieMessage(`Tenant.bypass("${reason}") needs the owner client (DATABASE_OWNER_URL)`)
    }
    const setup = Effect.gen(function* () {
      yield* sql`SELECT set_config(${BYPASS_SETTING}, ${reason}, true), set_config(${TENANT_SETTING}, '', true)`
      yield* sql`INSERT INTO audit_log (organization_id, project_id, actor_type, actor_id, actor_reason, action,
          target_type, target_id, request_id)
        VALUES (${ctx.organizationId}, ${ctx.projectId}, 'system', NULL, ${actor.reason}, 'tenant.bypass',
          'bypass', ${reason}, ${ctx.requestId})`
    })
    return yield* inTransaction(
      owner.value,
      setup,
      Effect.locally(effect, currentScope, Option.some<Scope>({ _tag: "bypass", sql }))
    )
  }).pipe(Effect.withSpan("Tenant.bypass", { attributes: { reason } }))

export const Tenant = { transaction, ensure, read, bypass, orgFilter, withoutAppFilter } as const
