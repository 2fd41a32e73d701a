/**
 * The README, the guides and the JSDoc of the sources (which JSR renders, resolving links from the file
 * they are in) link only to files that exist and to headings those files have, and every guide is
 * reachable from the README. Links to other sites are not fetched.
 */
import assert from "node:assert/strict"
import { anchors, links } from "./_markdown.ts"

const root = new URL("../../", import.meta.url)

const exists = async (url: URL): Promise<boolean> => {
  try {
    await Deno.stat(url)
    return true
  } catch {
    return false
  }
}

const guides = async (): Promise<Array<string>> => {
  const out: Array<string> = []
  for await (const entry of Deno.readDir(new URL("docs/", root))) {
    if (entry.isFile && entry.name.endsWith(".md")) out.push(`docs/${entry.name}`)
  }
  return out.sort()
}

const sources = async (dir: string): Promise<Array<string>> => {
  const out: Array<string> = []
  for await (const entry of Deno.readDir(new URL(dir, root))) {
    if (entry.isDirectory) out.push(...await sources(`${dir}${entry.name}/`))
    else if (entry.name.endsWith(".ts")) out.push(`${dir}${entry.name}`)
  }
  return out
}

const pages = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", ...await guides()]
const codePages = ["mod.ts", ...await sources("src/")]

/** The text of a page where links live: all of a Markdown page, the doc comments of a source file. */
const linkText = (page: string, text: string): string =>
  page.endsWith(".md")
    ? text
    : text.split("\n").map((line) => /^\s*(\/\*\*|\*)/.test(line) ? line : "").join("\n")

Deno.test("README.md, docs/*.md and the JSDoc link only to files and headings that exist", async () => {
  const broken: Array<string> = []
  for (const page of [...pages, ...codePages]) {
    const text = linkText(page, await Deno.readTextFile(new URL(page, root)))
    for (const { line, target } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // another site, or mailto:
      const [path = "", fragment] = target.split("#", 2)
      const url = path === "" ? new URL(page, root) : new URL(path, new URL(page, root))
      const relative = url.href.slice(root.href.length)
      if (!await exists(url)) {
        broken.push(`${page}:${line}: ${target} (no such file)`)
        continue
      }
      if (fragment !== undefined && relative.endsWith(".md")) {
        if (!anchors(await Deno.readTextFile(url)).has(fragment)) {
          broken.push(`${page}:${line}: ${target} (no such heading)`)
        }
      }
    }
  }
  assert.deepEqual(broken, [])
})

Deno.test("README.md links to every guide in docs/", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root))
  const linked = new Set(links(readme).map((l) => l.target.split("#")[0]))
  const unlinked = (await guides()).filter((guide) => !linked.has(guide))
  assert.deepEqual(unlinked, [])
})

Deno.test("README.md stays a front page: at most 15 KB", async () => {
  const size = (await Deno.stat(new URL("README.md", root))).size
  assert.ok(size <= 15 * 1024, `README.md is ${size} bytes; move detail into a guide in docs/`)
})
