/**
 * The statements authentication sends before any tenant is known (API key by hash, the session lookup and its
 * sliding-expiry update) carry the request's id in their sqlcommenter comment, as Postgres received them: in this
 * file's own database the key lookup function is redefined (as the owner) to record `current_query()` — the text of
 * the top-level statement the server is executing — and a trigger records it for the session update.
 */
import { randomBytes } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { asOwner } from "../support/Database.js"
import { baseUrl, call, type Reply, tenancyServer } from "./Support.js"

const server = tenancyServer("preauth", { THREADLINE_AUTH_ATTEMPTS_PER_IP: "1000" })

const req = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
  Effect.flatMap(baseUrl, (base) =>
    call(`${base}${path}`, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
  )

const ok = (res: Reply, status = 200) => {
  if (res.status !== status) expect(res.json).toEqual({ expectedStatus: status })
  return res.json
}

const CAPTURE = `
CREATE TABLE IF NOT EXISTS seen_statements (query text NOT NULL);
GRANT INSERT ON seen_statements TO threadline_app;
CREATE OR REPLACE FUNCTION threadline_api_key_by_hash(p_key_hash text)
RETURNS TABLE (id text, organization_id text, project_id text, type text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO seen_statements VALUES (current_query());
  RETURN QUERY SELECT k.id, k.organization_id, k.project_id, k.type FROM api_keys k
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
END $$;
CREATE OR REPLACE FUNCTION record_session_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO seen_statements VALUES (current_query());
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS sessions_seen ON sessions;
CREATE TRIGGER sessions_seen BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION record_session_update();
`

const seen = asOwner((c) => c.query<{ query: string }>("SELECT query FROM seen_statements")).pipe(
  Effect.map((r) => r.rows.map((row) => row.query))
)

layer(server.layer, { timeout: 120_000 })("pre-authentication statements", (it) => {
  it.effect("the API-key lookup and the session's sliding update carry the request id", () =>
    Effect.gen(function* () {
      yield* asOwner((c) => c.query(CAPTURE))
      const email = `pre-${randomBytes(4).toString("hex")}@example.com`
      const password = "correct horse battery"
      ok(yield* req("POST", "/api/v1/auth/register", {}, { email, password, name: "pre" }), 201)
      const token = ok(yield* req("POST", "/api/v1/auth/login", {}, { email, password })).token as string

      // the session's first use slides its expiry: an UPDATE sent while authenticating
      const sessionRequestId = `preauth-session-${randomBytes(3).toString("hex")}`
      const slug = `pre-${randomBytes(4).toString("hex")}`
      ok(
        yield* req(
          "POST",
          "/api/v1/orgs",
          { authorization: `Bearer ${token}`, "x-request-id": sessionRequestId },
          { slug, name: "pre" }
        ),
        201
      )
      const auth = { authorization: `Bearer ${token}` }
      const project = ok(yield* req("POST", `/api/v1/orgs/${slug}/projects`, auth, { name: "p" }), 201)
      const key = ok(
        yield* req("POST", `/api/v1/orgs/${slug}/projects/${project.id as string}/api-keys`, auth, {
          name: "k",
          type: "full"
        }),
        201
      ).secret as string

      const keyRequestId = `preauth-key-${randomBytes(3).toString("hex")}`
      ok(yield* req("GET", "/test/key-probe", { "x-api-key": key, "x-request-id": keyRequestId }))

      const statements = yield* seen
      const keyLookups = statements.filter((q) => q.includes("threadline_api_key_by_hash"))
      expect(keyLookups).toHaveLength(1)
      expect(keyLookups[0]).toContain(`request_id='${keyRequestId}'`)
      expect(keyLookups[0]).toContain("organization_id='org_system'")
      const sessionUpdates = statements.filter((q) => /UPDATE\s+sessions/i.test(q))
      expect(sessionUpdates.length).toBeGreaterThanOrEqual(1)
      expect(sessionUpdates[0]).toContain(`request_id='${sessionRequestId}'`)
    })
  )
})
