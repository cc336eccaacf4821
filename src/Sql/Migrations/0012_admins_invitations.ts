/**
 * Platform administrators become a flag on the user row (set only by the operator's CLI); emails are stored
 * normalized (NFKC, then lower case) with the unique index on that form, so look-alikes collide; organizations are
 * joined through invitations (tenant data, one-time token stored as SHA-256) found by token before any tenant is known.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { APP_ROLE, grant, tenantPolicy } from "./Rls.js"

/** The form every email is stored and looked up in; kept here (not imported) so this migration never changes. */
const normalize = (email: string): string => email.normalize("NFKC").toLowerCase()

/**
 * What a row whose normalized email is already the older account's becomes: not an address (a space, which the
 * email schema refuses), so nobody can log in to it or register it, and unique because it carries its own id.
 */
export const collidedEmail = (normalized: string, id: string): string =>
  `${normalized} (duplicate of an older account; ${id})`

interface Row {
  readonly id: string
  readonly email: string
}

/**
 * Normalizes every stored email; where two rows collide, the oldest keeps the address and the others are renamed
 * (collidedEmail) and their sessions revoked, with a warning naming them. Returns the ids renamed.
 */
export const normalizeEmails = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // statements of a migration run before any unit of work: this comment names them in the statement log
  const tag = sql.literal("-- migration 0012_admins_invitations: normalize stored emails\n")
  const rows = yield* sql<Row>`${tag}SELECT id, email FROM users ORDER BY created_at, id`
  const taken = new Set<string>()
  const changes: Array<Row> = []
  const collided: Array<string> = []
  for (const row of rows) {
    const normalized = normalize(row.email)
    if (taken.has(normalized)) {
      collided.push(row.id)
      changes.push({ id: row.id, email: collidedEmail(normalized, row.id) })
      continue
    }
    taken.add(normalized)
    if (normalized !== row.email) changes.push({ id: row.id, email: normalized })
  }
  if (changes.length > 0) {
    yield* sql`${tag}UPDATE users SET email = c.email, updated_at = now()
      FROM unnest(${changes.map((c) => c.id)}::text[], ${changes.map((c) => c.email)}::text[]) AS c(id, email)
      WHERE users.id = c.id`
  }
  if (collided.length > 0) {
    yield* sql`${tag}UPDATE sessions SET revoked_at = now() WHERE user_id = ANY(${collided}::text[]) AND revoked_at IS NULL`
    yield* Effect.logWarning(
      "migration 0012: accounts whose email collides with an older account's once normalized were renamed and " +
        "signed out; they can no longer log in",
      { userIds: collided }
    )
  }
  return collided
})

const before = `
ALTER TABLE users ADD COLUMN is_platform_admin boolean NOT NULL DEFAULT false;
DROP INDEX users_email_key;
`

const after = `
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE organization_invitations (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  email text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  token_hash text NOT NULL UNIQUE,
  created_by text REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by text REFERENCES users (id) ON DELETE SET NULL,
  revoked_at timestamptz
);
CREATE INDEX organization_invitations_list_idx ON organization_invitations (organization_id, created_at, id);
${tenantPolicy("organization_invitations")}
${grant("organization_invitations", "SELECT, INSERT, UPDATE")}

-- Pre-tenant: the organization an invitation token belongs to (whatever its state), so that accepting can run in
-- that organization's tenant transaction, where the row is locked and checked.
CREATE FUNCTION threadline_invitation_by_token(p_token_hash text)
RETURNS TABLE (id text, organization_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT i.id, i.organization_id FROM organization_invitations i WHERE i.token_hash = p_token_hash
$$;
REVOKE EXECUTE ON FUNCTION threadline_invitation_by_token(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION threadline_invitation_by_token(text) TO ${APP_ROLE};
`

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(before)
  yield* normalizeEmails
  yield* sql.unsafe(after)
})
