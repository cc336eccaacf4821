/**
 * The application's HttpApi: the groups of every area, each with the authentication its routes need. This file
 * only composes; groups are declared in `src/<Area>/<Group>Api.ts` and handled in `<Group>Http.ts` (see README.md
 * in this folder for how an area adds one).
 *
 * The OpenAPI transform states what the server really sends: every error response has the ErrorBody shape of
 * Errors.ts (the platform would describe each error class's own fields), every operation can answer 500 and 503,
 * every operation with a request body 413, and the two documentation routes served beside the groups are listed.
 */
import { HttpApi, OpenApi } from "@effect/platform"
import { AlertsApi } from "../Alerts/AlertsApi.js"
import { AuditApi } from "../Audit/AuditApi.js"
import { LimitsApi } from "../Limits/LimitsApi.js"
import { LogsIngestApi, LogsSearchApi } from "../Logs/LogsApi.js"
import { AccountApi, AuthApi, OrgsApi } from "../Tenancy/TenancyApi.js"
import { ApiKeyAuthentication, ReadAuthentication, SessionAuthentication } from "./Auth.js"
import { DOCS_PATH, OPENAPI_PATH } from "./Docs.js"
import { ErrorBody } from "./Errors.js"
import { HealthApi } from "./HealthApi.js"

type Spec = OpenApi.OpenAPISpec
type Operation = OpenApi.OpenAPISpecOperation

const errorContent = { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } }

const errorResponse = (description: string) => ({ description, content: errorContent })

const PAYLOAD_TOO_LARGE =
  "PayloadTooLarge: the body is over the route's limit (THREADLINE_MAX_JSON_BODY_BYTES, 16 KiB by default; " +
  "ingestion routes THREADLINE_MAX_BODY_BYTES, 10 MiB)"

const withErrorBodies = (op: Operation): Operation => {
  const responses: Record<string, unknown> = {}
  for (const [status, response] of Object.entries(op.responses)) {
    responses[status] = Number(status) >= 400 ? { ...response, content: errorContent } : response
  }
  responses["500"] ??= errorResponse("InternalServerError")
  responses["503"] ??= errorResponse("ServiceUnavailable: Postgres or Redis unavailable, or RequestTimeout")
  // the server wiring's body limits apply to every route, before the route's own code
  if (op.requestBody !== undefined) responses["413"] ??= errorResponse(PAYLOAD_TOO_LARGE)
  return { ...op, responses: responses as Operation["responses"] }
}

const documentationRoutes = {
  [OPENAPI_PATH]: {
    get: {
      tags: ["docs"],
      operationId: "docs.openapi",
      summary: "This OpenAPI 3.1 document",
      parameters: [],
      security: [],
      responses: { "200": { description: "OpenAPI document", content: { "application/json": { schema: {} } } } }
    }
  },
  [DOCS_PATH]: {
    get: {
      tags: ["docs"],
      operationId: "docs.scalar",
      summary: "Scalar UI for this document (in production only with THREADLINE_DOCS=true)",
      parameters: [],
      security: [],
      responses: {
        "200": { description: "HTML page", content: { "text/html": { schema: { type: "string" } } } },
        "404": errorResponse("NotFound: production without THREADLINE_DOCS=true")
      }
    }
  }
}

/**
 * Drops the `$id` Effect's JSON Schema generator puts on `unknown`/`{}` schemas: repeated at every use, it makes
 * the document invalid for validators that treat `$id` as a unique schema URI.
 */
const stripIds = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(stripIds)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (k !== "$id") out[k] = stripIds(v)
  return out
}

export const transformSpec = (document: Record<string, unknown>): Record<string, unknown> => {
  const spec = document as unknown as Spec
  const paths: Record<string, Record<string, Operation>> = {}
  for (const [path, item] of Object.entries(spec.paths)) {
    const out: Record<string, Operation> = {}
    for (const [method, op] of Object.entries(item as Record<string, Operation>)) out[method] = withErrorBodies(op)
    paths[path] = out
  }
  return stripIds({
    ...spec,
    paths: { ...paths, ...documentationRoutes },
    tags: [...spec.tags, { name: "docs" }]
  }) as Record<string, unknown>
}

export class Api extends HttpApi.make("threadline")
  .add(HealthApi)
  .add(LogsIngestApi.middleware(ApiKeyAuthentication))
  .add(LogsSearchApi.middleware(ReadAuthentication))
  .add(AuthApi)
  .add(AccountApi.middleware(SessionAuthentication))
  .add(OrgsApi.middleware(SessionAuthentication))
  .add(AlertsApi.middleware(SessionAuthentication))
  .add(AuditApi.middleware(SessionAuthentication))
  .add(LimitsApi.middleware(SessionAuthentication))
  .annotate(HttpApi.AdditionalSchemas, [ErrorBody])
  .annotateContext(
    OpenApi.annotations({
      title: "Threadline",
      version: "0.1.0",
      description: "Multi-tenant log management: ingestion (LogTide and OTLP compatible), search, alerts, tenancy.",
      transform: transformSpec
    })
  ) {}
