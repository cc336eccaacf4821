/**
 * Secrets check: every plaintext secret of the run (passwords, session tokens, API keys, webhook secrets, the
 * deployment's THREADLINE_SECRET_KEY) is searched for in every captured log line, the PostgreSQL statement log (bound
 * parameters included), every row of every table (as text) and the Redis append-only file. Hashes and ciphertexts
 * are what may be stored; the plaintext must appear nowhere.
 */
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { query } from "./Postgres.js"

export interface SecretsResult {
  readonly figures: Record<string, number>
  readonly violations: Array<string>
}

const filesUnder = async (dir: string): Promise<Array<string>> => {
  const out: Array<string> = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

export const scanSecrets = async (
  secrets: ReadonlyArray<{ readonly kind: string; readonly value: string }>,
  captureDirs: ReadonlyArray<string>,
  databaseUrl: string
): Promise<SecretsResult> => {
  const violations: Array<string> = []
  const find = (where: string, text: string) => {
    for (const s of secrets) if (text.includes(s.value)) violations.push(`${s.kind} found in ${where}`)
  }
  let files = 0
  let bytes = 0
  for (const dir of captureDirs) {
    for (const file of await filesUnder(dir)) {
      if (file.endsWith("figures.json")) continue
      const text = await readFile(file, "latin1")
      files++
      bytes += text.length
      find(file, text)
    }
  }
  const tables = await query<{ table_name: string }>(
    databaseUrl,
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
  )
  let rows = 0
  for (const { table_name } of tables) {
    const dump = await query<{ row: string }>(databaseUrl, `SELECT t::text AS row FROM "${table_name}" t`)
    rows += dump.length
    for (const r of dump) find(`table ${table_name}`, r.row)
  }
  return {
    figures: {
      secretsSearched: secrets.length,
      filesScanned: files,
      bytesScanned: bytes,
      tablesScanned: tables.length,
      rowsScanned: rows,
      secretViolations: violations.length
    },
    violations: [...new Set(violations)]
  }
}
