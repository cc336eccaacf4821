/**
 * Parses PostgreSQL's server log written with `log_statement = all` and Postgres.ts's LINE_PREFIX
 * (`time|pid|session|vxid|role| `). Each statement gets the sqlcommenter values of its trailing comment (if any) and
 * its bound parameters (the `DETAIL:  Parameters:` line that follows an extended-protocol `execute`).
 */
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"

export interface Statement {
  readonly session: string
  readonly vxid: string
  readonly role: string
  readonly text: string
  params: string
  readonly organizationId: string | undefined
  readonly projectId: string | undefined
  readonly requestId: string | undefined
}

const START = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \w+)\|(\d+)\|([^|]*)\|([^|]*)\|([^|]*)\| (\w+):\s+([\s\S]*)$/
const STATEMENT = /^(?:statement|execute [^:]*): ([\s\S]*)$/
const COMMENT =
  /\/\*organization_id='([^']*)'(?:,project_id='([^']*)')?,request_id='([^']*)'(?:,traceparent='[^']*')?\*\/\s*;?\s*$/

const decode = (v: string | undefined) => (v === undefined ? undefined : decodeURIComponent(v.replace(/\\'/g, "'")))

export interface ParsedLog {
  readonly statements: Array<Statement>
  /** Lines other than statements and their parameters (errors, warnings), kept for the secrets scan. */
  readonly other: Array<string>
  /** Every line as written, for the secrets scan. */
  readonly raw: Array<string>
}

export const parseStatementLog = async (file: string): Promise<ParsedLog> => {
  const records: Array<{ session: string; vxid: string; role: string; severity: string; body: string }> = []
  const raw: Array<string> = []
  const lines = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Infinity })
  for await (const line of lines) {
    raw.push(line)
    const m = START.exec(line)
    if (m !== null) {
      records.push({ session: m[3] ?? "", vxid: m[4] ?? "", role: m[5] ?? "", severity: m[6] ?? "", body: m[7] ?? "" })
    } else {
      const last = records[records.length - 1]
      if (last !== undefined) last.body += `\n${line}`
    }
  }
  const statements: Array<Statement> = []
  const other: Array<string> = []
  const lastBySession = new Map<string, Statement>()
  for (const r of records) {
    const st = r.severity === "LOG" ? STATEMENT.exec(r.body) : null
    if (st !== null) {
      const text = st[1] ?? ""
      const c = COMMENT.exec(text)
      const s: Statement = {
        session: r.session,
        vxid: r.vxid,
        role: r.role,
        text,
        params: "",
        organizationId: decode(c?.[1]),
        projectId: decode(c?.[2]),
        requestId: decode(c?.[3])
      }
      statements.push(s)
      lastBySession.set(r.session, s)
    } else if (r.severity === "DETAIL" && r.body.startsWith("Parameters:")) {
      const s = lastBySession.get(r.session)
      if (s !== undefined) s.params = r.body
    } else other.push(`${r.severity}: ${r.body}`)
  }
  return { statements, other, raw }
}

/** The statement's shape for reports: comment and literals removed, whitespace collapsed, first 90 characters. */
export const shape = (text: string): string =>
  text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/'[^']*'/g, "?")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 90)
