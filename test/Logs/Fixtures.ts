/**
 * The logs tests' database: a migrated per-file database (TestDatabase) with two organizations and their projects
 * (org_a/prj_a, org_b/prj_b) inserted as the owner, and the logs services on it as the application runs them.
 */
import { createHash } from "node:crypto"
import type { SqlClient } from "@effect/sql"
import { Layer } from "effect"
import { Ingest } from "../../src/Logs/Ingest.js"
import { LogsConfig } from "../../src/Logs/LogsConfig.js"
import { ProjectScope } from "../../src/Logs/ProjectScope.js"
import { LogsQuery } from "../../src/Logs/Query.js"
import { Quota } from "../../src/Logs/Quota.js"
import { RequestLimiter } from "../../src/Http/RequestLimiter.js"
import { type ApiKeyId, type OrganizationId, type ProjectId, RequestContext } from "../../src/RequestContext.js"
import type { ReadSql } from "../../src/Sql/Client.js"
import { asOwner, TestDatabase } from "../support/Database.js"

export const keyContext = (tenant: "a" | "b") =>
  RequestContext.make({
    origin: "http",
    actor: { _tag: "apiKey", apiKeyId: `key_${tenant}` as ApiKeyId },
    organizationId: `org_${tenant}` as OrganizationId,
    projectId: `prj_${tenant}` as ProjectId
  })

/** How the tenancy area stores keys: SHA-256 hex of the secret (these fixed ones are never presented over HTTP). */
export const keyHash = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex")

/** Two tenants, each with a full API key (secret tl_key_a / tl_key_b); fixed literals, not input. */
export const seedTenants = asOwner((c) =>
  c.query(`
    INSERT INTO organizations (id, slug, name) VALUES ('org_a', 'org-a', 'A'), ('org_b', 'org-b', 'B');
    INSERT INTO projects (id, organization_id, name) VALUES ('prj_a', 'org_a', 'A'), ('prj_b', 'org_b', 'B');
    INSERT INTO api_keys (id, organization_id, project_id, name, type, key_hash, prefix) VALUES
      ('key_a', 'org_a', 'prj_a', 'a', 'full', '${keyHash("tl_key_a")}', 'tl_key'),
      ('key_b', 'org_b', 'prj_b', 'b', 'full', '${keyHash("tl_key_b")}', 'tl_key');
  `)
)

/** A seeded test database (SqlClient, PgClient, ReadSql, TestDatabaseInfo). */
export const seededDatabase = (label: string) =>
  Layer.effectDiscard(seedTenants).pipe(Layer.provideMerge(TestDatabase.layer(label)))

/** Ingest and LogsQuery with the allow-all quota, over `db`. */
export const logsServices = <E, R>(db: Layer.Layer<ReadSql | SqlClient.SqlClient, E, R>) =>
  Layer.mergeAll(Ingest.Default, LogsQuery.Default).pipe(
    Layer.provide(ProjectScope.Default),
    Layer.provideMerge(Layer.mergeAll(Quota.allowAll, RequestLimiter.allowAll, LogsConfig.Default)),
    Layer.provide(db)
  )
