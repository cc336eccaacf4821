/**
 * The logs endpoints as the application serves them: the full Api with every group and the real authentication
 * (ApiLive) through the application's wiring (serveWith), on a random port, over a fresh migrated database (RLS
 * on, the app role), real Redis and the real tenancy services. Tenants are made the way a user makes them, through
 * the HTTP API: register, log in, create an organization, a project and its keys. The limits area is composed as
 * main.ts composes it, with its default limits (far above what these tests send).
 */
import { randomBytes } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { expect } from "@effect/vitest"
import type { SearchReply } from "../../src/Logs/QueryTypes.js"
import { baseUrl, call, type Reply } from "../Http/support/TestServer.js"
import { appServer } from "../support/AppServer.js"

export { baseUrl, call, type Reply }

export interface User {
  readonly id: string
  readonly token: string
}

/** An organization with one project, its owner's session and two keys of the project. */
export interface Tenant {
  readonly owner: User
  readonly orgId: string
  readonly projectId: string
  readonly fullKey: string
  readonly writeKey: string
}

export interface TenantsShape {
  readonly a: Tenant
  readonly b: Tenant
  /** A registered user who belongs to no organization. */
  readonly outsider: User
}
export class Tenants extends Context.Tag("test/Logs/Tenants")<Tenants, TenantsShape>() {}

const unique = () => randomBytes(4).toString("hex")

const expectStatus = (res: Reply, status: number) => {
  // the body in the failure message says why
  if (res.status !== status) expect({ status: res.status, body: res.json }).toEqual({ status })
  return res.json
}

const send = (method: string, path: string, token: string | undefined, body?: unknown) =>
  Effect.flatMap(baseUrl, (base) =>
    call(`${base}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  )

const user = (label: string) =>
  Effect.gen(function* () {
    const email = `${label}-${unique()}@example.com`
    const password = "correct horse battery"
    const reg = expectStatus(
      yield* send("POST", "/api/v1/auth/register", undefined, { email, password, name: label }),
      201
    )
    const login = expectStatus(yield* send("POST", "/api/v1/auth/login", undefined, { email, password }), 200)
    return { id: reg.id as string, token: login.token as string }
  })

const tenant = (label: string) =>
  Effect.gen(function* () {
    const owner = yield* user(`${label}-owner`)
    const org = expectStatus(
      yield* send("POST", "/api/v1/orgs", owner.token, { slug: `${label}-${unique()}`, name: label }),
      201
    )
    const orgId = org.id as string
    const project = expectStatus(
      yield* send("POST", `/api/v1/orgs/${orgId}/projects`, owner.token, { name: `${label} web` }),
      201
    )
    const projectId = project.id as string
    const key = (type: "full" | "write") =>
      Effect.map(
        send("POST", `/api/v1/orgs/${orgId}/projects/${projectId}/api-keys`, owner.token, { name: type, type }),
        (res) => expectStatus(res, 201).secret as string
      )
    return { owner, orgId, projectId, fullKey: yield* key("full"), writeKey: yield* key("write") }
  })

/** The application's server on `label`'s own database, with tenants A and B and an outsider made through it. */
export const logsApp = (label: string, config: Record<string, string> = {}) => {
  // the limits area with its default limits (far above what these tests send); `config` adds settings
  const server = appServer(label, config)
  const tenants = Layer.effect(Tenants, Effect.all({ a: tenant("a"), b: tenant("b"), outsider: user("outsider") }))
  return tenants.pipe(Layer.provideMerge(server))
}

/** POST with an API key (`X-API-Key`), JSON by default. */
export const post = (path: string, key: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
  Effect.flatMap(baseUrl, (base) =>
    call(`${base}${path}`, {
      method: "POST",
      body,
      headers: { "x-api-key": key, "content-type": "application/json", ...headers }
    })
  )

export type Credential = { readonly key: string } | { readonly session: string }

/** GET a logs route with a key or a session; the reply as SearchReply (or the error body). */
export const search = (path: string, query: string, credential: Credential) =>
  Effect.flatMap(baseUrl, (base) =>
    Effect.map(
      call(`${base}${path}?${query}`, {
        headers:
          "key" in credential ? { "x-api-key": credential.key } : { authorization: `Bearer ${credential.session}` }
      }),
      (res) => ({ status: res.status, headers: res.headers, body: res.json as unknown as SearchReply, json: res.json })
    )
  )

/** Every entry matching `query`, page by page (keyset cursor, newest first). */
export const searchAll = (query: string, key: string, pageSize = 1000) =>
  Effect.gen(function* () {
    const all: Array<SearchReply["logs"][number]> = []
    let cursor: string | null = null
    do {
      const page: { status: number; body: SearchReply } = yield* search(
        "/api/v1/logs",
        `${query}&limit=${pageSize}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
        { key }
      )
      expect(page.status).toBe(200)
      all.push(...page.body.logs)
      cursor = page.body.nextCursor
    } while (cursor !== null)
    return all
  })
