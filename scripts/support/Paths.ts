/** Paths the scripts need, independent of the directory they are started from. */
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

export const repoPath = (relative: string): string => fileURLToPath(new URL(`../../${relative}`, import.meta.url))

/** `node --import <this>` runs TypeScript files (tsx's loader, resolved from here rather than from the cwd). */
export const tsxLoader = (): string => import.meta.resolve("tsx")
