import { ESLint } from "eslint"
import { describe, expect, it } from "vitest"

// The lint rule is the guard against AsyncLocalStorage#enterWith; this proves the project's real config fires it.
describe("lint guard", () => {
  it("rejects AsyncLocalStorage#enterWith anywhere in the code", async () => {
    const eslint = new ESLint({ cwd: process.cwd() })
    const [result] = await eslint.lintText(
      'import { AsyncLocalStorage } from "node:async_hooks"\nconst als = new AsyncLocalStorage<string>()\nals.enterWith("leak")\n',
      { filePath: "src/RequestContext.ts" }
    )
    const messages = (result?.messages ?? []).map((m) => m.message)
    expect(messages.some((m) => m.includes("enterWith leaks context"))).toBe(true)
  }, 60_000)
})
