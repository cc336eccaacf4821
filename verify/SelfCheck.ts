/**
 * Proof that the correlation checks can fail (no test that cannot fail): the same capture with one defect injected
 * at a time must each produce a violation more than the untouched capture.
 */
import { type Captured, correlate } from "./Correlate.js"

/**
 * Injections: a statement moved to another tenant, a missing access log line, a log line naming another tenant, an
 * audit row of another tenant, a webhook body changed after signing. Returns the injections that went unnoticed.
 */
export const selfCheck = (c: Captured): Array<string> => {
  const missed: Array<string> = []
  const [a, b] = c.tenants
  if (a === undefined || b === undefined) return ["self-check needs two tenants"]
  const victim = c.sent.find(
    (s) => s.orgId === a.orgId && s.status === 200 && c.statements.some((st) => st.requestId === s.id)
  )
  if (victim === undefined) return ["self-check found no request to tamper with"]
  const base = correlate(c).violations.length
  const detect = (name: string, tampered: Captured) => {
    if (correlate(tampered).violations.length <= base) missed.push(name)
  }
  detect("statement under another tenant", {
    ...c,
    statements: c.statements.map((st) => (st.requestId === victim.id ? { ...st, organizationId: b.orgId } : st))
  })
  detect("missing access log line", {
    ...c,
    apiLines: c.apiLines.filter((l) => !(l.msg === "request" && l.requestId === victim.id))
  })
  detect("log line naming another tenant", {
    ...c,
    workerLines: [...c.workerLines, { requestId: victim.id, organizationId: a.orgId, msg: `touching ${b.orgId}` }]
  })
  detect("audit row of another tenant", {
    ...c,
    audit: [...c.audit, { organization_id: b.orgId, request_id: victim.id, action: "tampered" }]
  })
  const knownRules = new Set(c.tenants.flatMap((t) => t.rules.map((r) => r.id)))
  const hook = c.webhooks.find((h) => knownRules.has(/"ruleId":"([^"]+)"/.exec(h.body)?.[1] ?? ""))
  if (hook !== undefined) {
    detect("webhook signed with another secret", {
      ...c,
      webhooks: c.webhooks.map((h) =>
        h === hook ? { ...h, body: h.body.replace(/"count":\d+/, '"count":999999') } : h
      )
    })
  }
  return missed
}
