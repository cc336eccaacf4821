/**
 * The limits ports are required services: a process that serves routes or ingests without saying how requests and
 * quotas are limited does not compile. Checked by `tsc -p test/types`; an unused @ts-expect-error fails the check.
 */
import type { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import type { Credentials } from "../../src/Http/Credentials.js"
import { AuthenticationLive } from "../../src/Http/Auth.js"
import { RequestLimiter } from "../../src/Http/RequestLimiter.js"
import { Ingest } from "../../src/Logs/Ingest.js"
import { LogsConfig } from "../../src/Logs/LogsConfig.js"
import { ProjectScope } from "../../src/Logs/ProjectScope.js"
import { Quota } from "../../src/Logs/Quota.js"
import type { ReadSql } from "../../src/Sql/Client.js"

declare const storage: Layer.Layer<SqlClient.SqlClient | ReadSql | Credentials>

// The ingest service without a Quota: the layer still needs one, so it cannot be run.
const ingestWithoutQuota = Ingest.Default.pipe(
  Layer.provide(ProjectScope.Default),
  Layer.provide(Layer.mergeAll(LogsConfig.Default, RequestLimiter.allowAll, storage))
)
// @ts-expect-error Quota is required (no allow-all default)
void Effect.runPromise(Layer.launch(ingestWithoutQuota))
// @ts-expect-error the layer does not claim to need nothing
export const ingestNoQuota: Layer.Layer<Ingest, unknown, never> = ingestWithoutQuota

// Authentication (every authenticated route's rate-limit step) without a RequestLimiter.
const authWithoutLimiter = AuthenticationLive.pipe(Layer.provide(storage))
// @ts-expect-error RequestLimiter is required (no allow-all default)
void Effect.runPromise(Layer.launch(authWithoutLimiter))
// The project scope of the logs routes rate-limits too.
const scopeWithoutLimiter = ProjectScope.Default.pipe(Layer.provide(Layer.merge(LogsConfig.Default, storage)))
// @ts-expect-error RequestLimiter is required by the logs routes' project scope
void Effect.runPromise(Layer.launch(scopeWithoutLimiter))

// With the explicit allow-all layers the same compositions compile: the errors above are about the ports only.
void Effect.runPromise(Layer.launch(Layer.provide(ingestWithoutQuota, Quota.allowAll)))
void Effect.runPromise(Layer.launch(Layer.provide(authWithoutLimiter, RequestLimiter.allowAll)))
void Effect.runPromise(Layer.launch(Layer.provide(scopeWithoutLimiter, RequestLimiter.allowAll)))
