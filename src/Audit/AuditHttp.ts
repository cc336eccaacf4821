/** Handler of the `audit` group: admins read their organization's trail (OrgAccess: 404 non-members, 403 members). */
import { Effect } from "effect"
import { BadRequest } from "../Http/Errors.js"
import { OrgAccess } from "../Http/OrgAccess.js"
import type { AuditQuery } from "./AuditApi.js"
import { type AuditEntry, AuditLog } from "./AuditLog.js"

const entryView = (e: AuditEntry) => ({
  // API.md: ids are opaque strings with a type prefix (the cursor keeps the row's own id)
  id: `aud_${e.id}`,
  projectId: e.projectId,
  actorType: e.actorType,
  actorId: e.actorId,
  actorReason: e.actorReason,
  action: e.action,
  targetType: e.targetType,
  targetId: e.targetId,
  changes: e.changes,
  requestId: e.requestId,
  createdAt: e.createdAt.toISOString()
})

export const listAudit = ({
  path,
  urlParams
}: {
  readonly path: { readonly org: string }
  readonly urlParams: typeof AuditQuery.Type
}) =>
  OrgAccess.run(path.org, "admin", () =>
    Effect.flatMap(AuditLog, (audit) => audit.list(urlParams)).pipe(
      Effect.map((page) => ({ entries: page.entries.map(entryView), nextCursor: page.nextCursor })),
      Effect.catchTag("Audit/InvalidAuditCursor", (e) => Effect.fail(new BadRequest({ message: e.message })))
    )
  )
