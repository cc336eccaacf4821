/** Request and response bodies of the tenancy routes (API.md "Endpoints"). Times are ISO-8601 strings. */
import { Schema } from "effect"

const strict = { parseOptions: { errors: "all" as const } }

export const Email = Schema.Trim.pipe(
  Schema.maxLength(254),
  Schema.pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: () => "must be an email address" })
)
/** At least 10 characters; capped so a huge body cannot make scrypt expensive. */
export const Password = Schema.String.pipe(Schema.minLength(10), Schema.maxLength(256))
const Name = Schema.Trim.pipe(Schema.minLength(1), Schema.maxLength(100))
export const Slug = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9-]{2,48}$/, { message: () => "slug must match [a-z0-9-]{2,48}" })
)
export const Role = Schema.Literal("owner", "admin", "member")
export const KeyType = Schema.Literal("write", "full")

export const RegisterPayload = Schema.Struct({ email: Email, password: Password, name: Name }).annotations(strict)
export const LoginPayload = Schema.Struct({
  email: Email,
  password: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))
}).annotations(strict)
/** `slug` may be left out: it is then derived from the name (API.md is silent; clients expect `{ name }` to do). */
export const CreateOrgPayload = Schema.Struct({ slug: Schema.optional(Slug), name: Name }).annotations(strict)

/** A slug from a display name: lowercase `[a-z0-9-]`, 2..48 characters; `suffix` keeps it unique on retries. */
export const slugFromName = (name: string, suffix?: string): string => {
  const tail = suffix === undefined ? "" : `-${suffix}`
  const base = name
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48 - tail.length)
    .replace(/-+$/, "")
  return `${base.length >= 2 ? base : `org${base.length > 0 ? `-${base}` : ""}`}${tail}`
}
/** Whoever holds the token joins with `role`; only an owner may invite an owner. */
export const CreateInvitationPayload = Schema.Struct({ email: Email, role: Role }).annotations(strict)
/** `tli_` and 43 base64url characters; anything else (of bounded size) is answered 404 without a query. */
export const AcceptInvitationPayload = Schema.Struct({
  token: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))
}).annotations(strict)
export const CreateProjectPayload = Schema.Struct({ name: Name }).annotations(strict)
export const CreateKeyPayload = Schema.Struct({ name: Name, type: KeyType }).annotations(strict)

export const UserView = Schema.Struct({ id: Schema.String, email: Schema.String, name: Schema.String })
export const LoginReply = Schema.Struct({ token: Schema.String, expiresAt: Schema.String, user: UserView })
export const OrgView = Schema.Struct({
  id: Schema.String,
  slug: Schema.String,
  name: Schema.String,
  role: Role
})
export const MeReply = Schema.Struct({ user: UserView, organizations: Schema.Array(OrgView) })
export const MemberView = Schema.Struct({
  userId: Schema.String,
  email: Schema.String,
  name: Schema.String,
  role: Role,
  createdAt: Schema.String
})
export const InvitationView = Schema.Struct({
  id: Schema.String,
  email: Schema.String,
  role: Role,
  createdAt: Schema.String,
  expiresAt: Schema.String
})
/** The creation reply: the only time the token (and the link carrying it) is shown. */
export const CreatedInvitation = Schema.Struct({
  ...InvitationView.fields,
  token: Schema.String,
  acceptUrl: Schema.String
})
export const ProjectView = Schema.Struct({ id: Schema.String, name: Schema.String, createdAt: Schema.String })
export const KeyView = Schema.Struct({
  id: Schema.String,
  projectId: Schema.String,
  name: Schema.String,
  type: KeyType,
  prefix: Schema.String,
  createdAt: Schema.String,
  lastUsedAt: Schema.NullOr(Schema.String),
  revokedAt: Schema.NullOr(Schema.String)
})
export const CreatedKey = Schema.Struct({ ...KeyView.fields, secret: Schema.String })
