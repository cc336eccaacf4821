/**
 * What every repository shares: running an operation in the tenant transaction on the repository's client, the
 * one failure callers can act on (a duplicate key), and infrastructure failures as defects.
 */
import type { SqlClient } from "@effect/sql"
import { SqlClient as Client } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Data, Effect } from "effect"
import type { RequestContext } from "../RequestContext.js"
import { Tenant } from "./Tenant.js"

/** A unique constraint refused the row; `constraint` names which one (e.g. `organizations_slug_key`). */
export class DuplicateKey extends Data.TaggedError("Sql/DuplicateKey")<{ readonly constraint: string }> {}

const pgCode = (e: unknown): { readonly code?: unknown; readonly constraint?: unknown } =>
  e instanceof SqlError && typeof e.cause === "object" && e.cause !== null ? e.cause : {}

/** Turns a unique violation into `DuplicateKey` and every other failure (SQL, row decoding) into a defect. */
export const duplicateKeyOrDie = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, DuplicateKey, R> =>
  Effect.catchAll(effect, (e) => {
    const fields = pgCode(e)
    return fields.code === "23505"
      ? Effect.fail(
          new DuplicateKey({ constraint: typeof fields.constraint === "string" ? fields.constraint : "unknown" })
        )
      : Effect.die(e)
  })

/** Runs a read or an update in the caller's tenant transaction (or a new one) on `sql`. */
export const inTenant =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, never, Exclude<R, SqlClient.SqlClient> | RequestContext> =>
    Tenant.ensure(Effect.orDie(effect)).pipe(Effect.provideService(Client.SqlClient, sql))

/** Runs an insert in its own (nested: savepoint) tenant transaction, so a duplicate leaves the caller's usable. */
export const insertInTenant =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, DuplicateKey, Exclude<R, SqlClient.SqlClient> | RequestContext> =>
    Tenant.transaction(duplicateKeyOrDie(effect)).pipe(Effect.provideService(Client.SqlClient, sql))

/** For global (non-tenant) tables: no transaction needed; failures are defects. */
export const plain = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, never, R> => Effect.orDie(effect)
