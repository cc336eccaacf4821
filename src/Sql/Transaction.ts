/**
 * Transactions whose control statements carry the sqlcommenter comment too. `@effect/sql` sends `BEGIN`, `COMMIT`,
 * `ROLLBACK` and the savepoint statements as fixed strings, past the statement transformer (Comment.ts), so in the
 * Postgres statement log a request's transaction opened and closed without its request id (docs/reliability.md,
 * "Observations", before 2026-11-27). `commentedTransactions` gives a client a `withTransaction` that behaves as the
 * library's (same connection handling, same `TransactionConnection` service so statements inside use the
 * transaction's connection, savepoints `effect_sql_<n>` when nested, rollback on failure or interruption, the
 * connection's scope closed after) but appends the comment of the unit of work that opens it:
 *   BEGIN /*organization_id='…',project_id='…',request_id='…',traceparent='…'*\/
 * Outside a unit of work (migrations at start-up) the statements are sent bare, as every other statement is there.
 * What it leaves out: the library's `sql.transaction` span, which nothing here exports (native tracer).
 */
import { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Effect, Exit, FiberRef, Scope } from "effect"
import { RequestContext } from "../RequestContext.js"
import { commentFor } from "./Comment.js"

const withCommentedTransaction =
  (reserve: Effect.Effect<Connection, SqlError, Scope.Scope>) =>
  <R, E, A>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.withFiberRuntime<A, E | SqlError, R>((fiber) => {
        const context = fiber.currentContext
        const ctx = Context.getOption(context, RequestContext)
        const suffix = ctx._tag === "Some" ? ` ${commentFor(ctx.value)}` : ""
        const outer = Context.getOption(context, SqlClient.TransactionConnection)
        const id = outer._tag === "Some" ? outer.value[1] + 1 : 0
        const acquire: Effect.Effect<readonly [Scope.CloseableScope | undefined, Connection], SqlError> =
          outer._tag === "Some"
            ? Effect.succeed([undefined, outer.value[0]] as const)
            : Effect.flatMap(Scope.make(), (scope) =>
                Effect.map(Scope.extend(reserve, scope), (conn) => [scope, conn] as const)
              )
        return Effect.flatMap(acquire, ([scope, conn]) => {
          const run = (statement: string) => conn.executeUnprepared(`${statement}${suffix}`, [], undefined)
          const savepoint = `effect_sql_${id}`
          const inner = Context.add(context, SqlClient.TransactionConnection, [conn, id] as const)
          return (id === 0 ? run("BEGIN") : run(`SAVEPOINT ${savepoint}`)).pipe(
            Effect.zipRight(Effect.locally(restore(effect), FiberRef.currentContext, inner)),
            Effect.exit,
            Effect.flatMap((exit) => {
              const end = Exit.isSuccess(exit)
                ? id === 0
                  ? Effect.orDie(run("COMMIT"))
                  : Effect.void
                : Effect.orDie(run(id === 0 ? "ROLLBACK" : `ROLLBACK TO SAVEPOINT ${savepoint}`))
              const closed = scope === undefined ? end : Effect.ensuring(end, Scope.close(scope, exit))
              return Effect.zipRight(closed, exit)
            })
          )
        })
      })
    )

/**
 * The same client with commented transaction control. The client object is the one the library just built for
 * this layer (not shared), so its `withTransaction` is replaced in place: the statement function and every other
 * member stay as they are, and `withoutTransforms()` copies keep the replacement.
 */
export const commentedTransactions = <C extends SqlClient.SqlClient>(client: C): C => {
  ;(client as { withTransaction: SqlClient.SqlClient["withTransaction"] }).withTransaction = withCommentedTransaction(
    client.reserve
  )
  return client
}
