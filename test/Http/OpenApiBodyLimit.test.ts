/**
 * Every route that takes a request body can answer 413 (the body limits of the server wiring), so the OpenAPI
 * document lists 413 with the ErrorBody shape on each such operation, and on no operation without a body.
 * PayloadTooLarge is declared once, whichever area raises it.
 */
import { OpenApi } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Api } from "../../src/Http/Api.js"
import * as HttpErrors from "../../src/Http/Errors.js"
import * as LogsBody from "../../src/Logs/Body.js"

type Op = {
  readonly requestBody?: unknown
  readonly responses: Record<string, { readonly content?: Record<string, { readonly schema?: unknown }> }>
}

const operations = (spec: OpenApi.OpenAPISpec) =>
  Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item as Record<string, Op>).map(([method, op]) => ({ route: `${method} ${path}`, op }))
  )

const errorBody = { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } }

describe("413 in the OpenAPI document", () => {
  const spec = OpenApi.fromApi(Api)

  it("POST /api/v1/auth/login and POST /api/v1/ingest list 413 with the error body", () => {
    for (const [path, op] of [
      ["/api/v1/auth/login", spec.paths["/api/v1/auth/login"]?.post],
      ["/api/v1/ingest", spec.paths["/api/v1/ingest"]?.post],
      ["/api/v1/orgs/{org}/alert-rules", spec.paths["/api/v1/orgs/{org}/alert-rules"]?.post]
    ] as const) {
      const response = (op as unknown as Op | undefined)?.responses["413"]
      expect(response, path).toBeDefined()
      expect(response?.content).toEqual(errorBody)
    }
  })

  it("every operation with a request body lists 413; none without one does", () => {
    const withBody = operations(spec).filter((o) => o.op.requestBody !== undefined)
    expect(withBody.length).toBeGreaterThan(10)
    expect(withBody.filter((o) => o.op.responses["413"] === undefined).map((o) => o.route)).toEqual([])
    const without = operations(spec).filter((o) => o.op.requestBody === undefined)
    expect(without.filter((o) => o.op.responses["413"] !== undefined).map((o) => o.route)).toEqual([])
  })

  it("PayloadTooLarge is one declaration", () => {
    expect(LogsBody.PayloadTooLarge).toBe(HttpErrors.PayloadTooLarge)
  })
})
