/**
 * The client searches run on. Provisional until src/Sql exposes its read client: then this becomes that tag.
 */
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

export class ReadSql extends Context.Tag("Logs/ReadSql")<ReadSql, SqlClient.SqlClient>() {
  static readonly fromDefault: Layer.Layer<ReadSql, never, SqlClient.SqlClient> = Layer.effect(
    ReadSql,
    Effect.map(SqlClient.SqlClient, (sql) => sql)
  )
}
