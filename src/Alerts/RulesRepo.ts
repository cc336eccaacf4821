/**
 * SQL for `alert_rules`, tenant-scoped: every statement runs in the caller's tenant transaction (or its own) and
 * filters by the context's organization as well as relying on the policies. The stored secret is read only by
 * `secretOf` (the delivery job); the rows every other method returns have no secret column.
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Either, Option } from "effect"
import { RequestContext } from "../RequestContext.js"
import { inTenant } from "../Sql/RepoSupport.js"
import { Tenant } from "../Sql/Tenant.js"
import { type AlertRule, type RuleId, RuleProjectNotFound } from "./AlertRule.js"
import { clampLimit, EventsCursor, pageOf, type PageOptions } from "./EventsRepo.js"

export interface RuleRow {
  readonly id: RuleId
  readonly projectId: string | null
  readonly name: string
  readonly service: string | null
  readonly levels: ReadonlyArray<string>
  readonly query: string | null
  readonly threshold: number
  readonly windowMinutes: number
  readonly cooldownMinutes: number
  readonly enabled: boolean
  readonly webhookUrl: string
}

export interface StoredRule extends RuleRow {
  readonly organizationId: string
  readonly lastTriggeredAt: Date | null
  readonly createdAt: Date
  readonly updatedAt: Date
}

const COLUMNS = `id, organization_id, project_id, name, service, levels, query, threshold, window_minutes,
  cooldown_minutes, enabled, webhook_url, last_triggered_at, created_at, updated_at`

export const toApi = (row: StoredRule): AlertRule => ({
  id: row.id,
  organizationId: row.organizationId,
  projectId: row.projectId,
  name: row.name,
  service: row.service,
  level: row.levels,
  query: row.query,
  threshold: row.threshold,
  windowMinutes: row.windowMinutes,
  cooldownMinutes: row.cooldownMinutes,
  enabled: row.enabled,
  webhookUrl: row.webhookUrl,
  lastTriggeredAt: row.lastTriggeredAt,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt
})

/**
 * The rule's (organization, project) pair has no project: the foreign key refused it. Caught on the statement (no
 * look-up first), so a project deleted concurrently is refused the same way instead of surfacing as a defect.
 */
const projectRefused = (e: SqlError): boolean => {
  const cause = e.cause as { readonly code?: unknown; readonly constraint?: unknown } | null
  return cause?.code === "23503" && cause.constraint === "alert_rules_organization_id_project_id_fkey"
}

const orUnknownProject =
  (projectId: string | null) =>
  <A, R>(statement: Effect.Effect<A, SqlError, R>) =>
    statement.pipe(
      Effect.map((a): Either.Either<A, RuleProjectNotFound> => Either.right(a)),
      Effect.catchIf(projectRefused, () =>
        Effect.succeed(Either.left(new RuleProjectNotFound({ projectId: projectId ?? "" })))
      )
    )

export class RulesRepo extends Effect.Service<RulesRepo>()("Alerts/RulesRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scoped = inTenant(sql)
    /** A text[] parameter from JSON, so nothing depends on the driver's array encoding. */
    const textArray = (values: ReadonlyArray<string>) =>
      sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))`
    const first = (rows: ReadonlyArray<StoredRule>) => Option.fromNullable(rows[0])

    /** Fails with RuleProjectNotFound when the project is not the organization's (the statement is rolled back). */
    const insert = (row: RuleRow & { readonly secret: string }) =>
      scoped(
        Effect.gen(function* () {
          const ctx = yield* RequestContext
          return yield* sql<StoredRule>`INSERT INTO alert_rules (id, organization_id, project_id, name, service,
              levels, query, threshold, window_minutes, cooldown_minutes, enabled, webhook_url,
              webhook_secret_ciphertext)
            VALUES (${row.id}, ${ctx.organizationId}, ${row.projectId}, ${row.name},
              ${row.service}, ${textArray(row.levels)}, ${row.query}, ${row.threshold},
              ${row.windowMinutes}, ${row.cooldownMinutes}, ${row.enabled}, ${row.webhookUrl},
              ${Buffer.from(row.secret, "utf8")})
            RETURNING ${sql.literal(COLUMNS)}`.pipe(
            Effect.map((rows) => rows[0]!),
            orUnknownProject(row.projectId)
          )
        })
      ).pipe(Effect.flatMap((inserted) => inserted))

    /**
     * Oldest first, keyset-paged by (created_at, id) at millisecond precision (as the events list). 100 a page by
     * default, the default rule quota, so a client that never pages sees every rule of a default organization.
     */
    const list = (options: PageOptions) =>
      Effect.gen(function* () {
        const after = options.cursor === undefined ? null : yield* EventsCursor.decode(options.cursor)
        const limit = clampLimit(options.limit, 100)
        const rows = yield* scoped(
          Effect.gen(function* () {
            const from =
              after === null
                ? sql.literal("TRUE")
                : sql`(date_trunc('milliseconds', created_at), id) > (${after.at}, ${after.id})`
            return yield* sql<StoredRule>`SELECT ${sql.literal(COLUMNS)} FROM alert_rules
              WHERE ${yield* Tenant.orgFilter(sql)} AND ${from}
              ORDER BY date_trunc('milliseconds', created_at), id LIMIT ${limit + 1}`
          })
        )
        return pageOf(rows, limit, (r) => r.createdAt)
      })

    /** `forUpdate`: lock the row until the enclosing transaction ends (a read-modify-write such as a partial PUT). */
    const find = (id: string, options?: { readonly forUpdate?: boolean }) =>
      scoped(
        Effect.gen(function* () {
          const lock = options?.forUpdate === true ? sql.literal("FOR UPDATE") : sql.literal("")
          return first(
            yield* sql<StoredRule>`SELECT ${sql.literal(COLUMNS)} FROM alert_rules
              WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${id} ${lock}`
          )
        })
      )

    /** Replaces every field (PUT); the secret only when a new one is given. None: no such rule. */
    const update = (row: RuleRow & { readonly secret: string | null }) =>
      scoped(
        Effect.gen(function* () {
          const secret = row.secret === null ? sql`webhook_secret_ciphertext` : sql`${Buffer.from(row.secret, "utf8")}`
          return yield* sql<StoredRule>`UPDATE alert_rules SET project_id = ${row.projectId}, name = ${row.name},
                service = ${row.service}, levels = ${textArray(row.levels)}, query = ${row.query},
                threshold = ${row.threshold}, window_minutes = ${row.windowMinutes},
                cooldown_minutes = ${row.cooldownMinutes}, enabled = ${row.enabled}, webhook_url = ${row.webhookUrl},
                webhook_secret_ciphertext = ${secret}, updated_at = now()
              WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${row.id}
              RETURNING ${sql.literal(COLUMNS)}`.pipe(Effect.map(first), orUnknownProject(row.projectId))
        })
      ).pipe(Effect.flatMap((updated) => updated))

    const remove = (id: string) =>
      scoped(
        Effect.gen(function* () {
          const rows = yield* sql`DELETE FROM alert_rules WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${id}
            RETURNING id`
          return rows.length > 0
        })
      )

    /** The sealed secret (SecretBox text) of a rule, for the delivery job. */
    const secretOf = (id: string) =>
      scoped(
        Effect.gen(function* () {
          const rows = yield* sql<{ readonly webhookSecretCiphertext: Buffer | null }>`SELECT webhook_secret_ciphertext
            FROM alert_rules WHERE ${yield* Tenant.orgFilter(sql)} AND id = ${id}`
          return Option.flatMapNullable(Option.fromNullable(rows[0]), (r) =>
            r.webhookSecretCiphertext?.toString("utf8")
          )
        })
      )

    return { insert, list, find, update, remove, secretOf } as const
  })
}) {}
