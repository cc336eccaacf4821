/**
 * Tenants for the soak, created through the public API (so their requests are part of what is checked): a user
 * per organization (known password), a session, an organization, a project, a `full` and a `write` API key, and two
 * alert rules with known webhook secrets: one whose destination accepts, one whose destination answers 410
 * (final), so that the soak has failed deliveries to replay.
 */
import { randomBytes } from "node:crypto"
import { type Client, str } from "./Http.js"
import type { Receiver } from "./Receiver.js"

export interface Key {
  readonly id: string
  readonly secret: string
  readonly type: "full" | "write"
  readonly projectId: string
}

export interface Tenant {
  readonly index: number
  readonly orgId: string
  readonly slug: string
  readonly email: string
  readonly password: string
  readonly token: string
  readonly projects: Array<string>
  readonly keys: Array<Key>
  readonly rules: Array<{ readonly id: string; readonly secret: string }>
}

/** Every plaintext secret handed out or chosen during the run; none may appear in a capture. */
export const secrets: Array<{ readonly kind: string; readonly value: string }> = []

const ok = (what: string, res: { status: number; body: unknown; id: string }) => {
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`${what} answered ${res.status} (${res.id}): ${JSON.stringify(res.body)}`)
  }
  return res.body
}

export const session = (t: Tenant) => ({ authorization: `Bearer ${t.token}` })

export const createKey = async (client: Client, t: Tenant, projectId: string, type: "full" | "write") => {
  const body = ok(
    "create key",
    await client.call(`/api/v1/orgs/${t.orgId}/projects/${projectId}/api-keys`, {
      kind: "key.create",
      orgId: t.orgId,
      headers: session(t),
      json: { name: `key-${type}`, type }
    })
  )
  const key: Key = { id: str(body, "id"), secret: str(body, "secret"), type, projectId }
  secrets.push({ kind: "api key", value: key.secret })
  return key
}

export const createRule = async (client: Client, t: Tenant, receiver: Receiver, failing: boolean) => {
  const secret = `whsec-${randomBytes(16).toString("hex")}`
  secrets.push({ kind: "webhook secret", value: secret })
  const body = ok(
    "create rule",
    await client.call(`/api/v1/orgs/${t.orgId}/alert-rules`, {
      kind: "rule.create",
      orgId: t.orgId,
      headers: session(t),
      json: {
        name: failing ? "errors (failing hook)" : "errors",
        level: ["error", "critical"],
        threshold: 1,
        windowMinutes: 1,
        cooldownMinutes: 0,
        webhookUrl: receiver.url(`/${failing ? "fail" : "hook"}/${t.slug}`),
        webhookSecret: secret
      }
    })
  )
  const rule = { id: str(body, "id"), secret }
  t.rules.push(rule)
  return rule
}

export const seedTenant = async (client: Client, receiver: Receiver, index: number, run: string): Promise<Tenant> => {
  const email = `owner${index}-${run}@verify.example`
  const password = `pw-${randomBytes(12).toString("hex")}`
  secrets.push({ kind: "password", value: password })
  ok(
    "register",
    await client.call("/api/v1/auth/register", {
      kind: "auth.register",
      json: { email, password, name: `Owner ${index}` }
    })
  )
  const login = ok("login", await client.call("/api/v1/auth/login", { kind: "auth.login", json: { email, password } }))
  const token = str(login, "token")
  secrets.push({ kind: "session token", value: token })
  const slug = `org-${index}-${run}`.toLowerCase().slice(0, 48)
  const org = ok(
    "create org",
    await client.call("/api/v1/orgs", {
      kind: "org.create",
      headers: { authorization: `Bearer ${token}` },
      json: { slug, name: `Org ${index}` }
    })
  )
  const t: Tenant = { index, orgId: str(org, "id"), slug, email, password, token, projects: [], keys: [], rules: [] }
  // the create-org request acts for the new organization: attribute it once the id is known
  const created = client.sent.findLast((s) => s.kind === "org.create" && field(s.body) === t.orgId)
  if (created !== undefined) created.orgId = t.orgId
  const project = ok(
    "create project",
    await client.call(`/api/v1/orgs/${t.slug}/projects`, {
      kind: "project.create",
      orgId: t.orgId,
      headers: session(t),
      json: { name: "main" }
    })
  )
  t.projects.push(str(project, "id"))
  t.keys.push(await createKey(client, t, str(project, "id"), "full"))
  t.keys.push(await createKey(client, t, str(project, "id"), "write"))
  await createRule(client, t, receiver, false)
  await createRule(client, t, receiver, true)
  return t
}

const field = (body: unknown): unknown =>
  body !== null && typeof body === "object" ? (body as Record<string, unknown>).id : undefined
