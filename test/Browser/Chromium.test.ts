/**
 * How the browser tests get their Chromium (scripts/support/Chromium.ts, run by `npm test`): found on the PATH or at
 * THREADLINE_TEST_CHROMIUM; an explicit path that is not a binary is never "fixed" by an install; and what the
 * browser tests say when there is none. The install itself is what CI does on a fresh machine.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { CHROMIUM_INSTALL_COMMAND, ensureChromium, findChromium } from "../../scripts/support/Chromium.js"
import { chromiumPath } from "../support/Browser.js"

const fakeBinaryDir = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await mkdtemp(join(tmpdir(), "threadline-chromium-"))
    await writeFile(join(dir, "chromium"), "#!/bin/sh\nexit 0\n")
    await chmod(join(dir, "chromium"), 0o755)
    return dir
  }),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

describe("Chromium for the browser tests", () => {
  it.scopedLive("found on the PATH: used as is, nothing installed or said", () =>
    Effect.gen(function* () {
      const dir = yield* fakeBinaryDir
      const lines: Array<string> = []
      const found = yield* ensureChromium({ env: { PATH: dir }, log: (l) => lines.push(l) })
      expect(found).toEqual(Option.some(join(dir, "chromium")))
      expect(lines).toEqual([])
    })
  )

  it.scopedLive("THREADLINE_TEST_CHROMIUM names the binary; one that is not there is reported, not installed", () =>
    Effect.gen(function* () {
      const dir = yield* fakeBinaryDir
      const binary = join(dir, "chromium")
      expect(findChromium({ PATH: "/nonexistent", THREADLINE_TEST_CHROMIUM: binary })).toEqual(Option.some(binary))
      const lines: Array<string> = []
      const env = { PATH: process.env.PATH, THREADLINE_TEST_CHROMIUM: join(dir, "missing") }
      expect(yield* ensureChromium({ env, log: (l) => lines.push(l) })).toEqual(Option.none())
      expect(lines.join("\n")).toContain(`THREADLINE_TEST_CHROMIUM=${join(dir, "missing")} is not an executable file`)
      expect(lines.join("\n")).toContain("apt-get install -y chromium")
    })
  )

  it("the browser tests fail, with the install command, when there is no Chromium", () => {
    const saved = process.env.THREADLINE_TEST_CHROMIUM
    process.env.THREADLINE_TEST_CHROMIUM = "/nonexistent/chromium"
    try {
      expect(() => chromiumPath()).toThrow(/apt-get install -y chromium/)
    } finally {
      if (saved === undefined) delete process.env.THREADLINE_TEST_CHROMIUM
      else process.env.THREADLINE_TEST_CHROMIUM = saved
    }
    expect(CHROMIUM_INSTALL_COMMAND).toBe("apt-get update && apt-get install -y chromium")
  })
})
