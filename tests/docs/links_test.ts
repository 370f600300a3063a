import assert from "node:assert/strict";

/**
 * Every relative link between the Markdown documents resolves: the target file exists, and an
 * `#anchor` into a Markdown file names one of its headings (GitHub's anchors).
 */

const ROOT = new URL("../../", import.meta.url);

/** The documents checked: the landing page, the policies and everything under docs/. */
function documents(): string[] {
  const docs = [...Deno.readDirSync(new URL("docs/", ROOT))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`)
    .sort();
  return ["README.md", "CONTRIBUTING.md", "SECURITY.md", ...docs];
}

/** The text outside fenced code blocks and inline code, where links are links. */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "")
    .replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor for a heading: lowercase, spaces to `-`, punctuation but `-` and `_` dropped. */
function anchorOf(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1") // a link keeps its text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a Markdown file's headings, with GitHub's `-1`, `-2` … for repeats. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  for (const match of withoutFences.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = anchorOf(match[1]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Relative link targets in a document: `[text](target)` and `![alt](target)`. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((match) => match[1])
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

function exists(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch {
    return false;
  }
}

Deno.test("anchors follow GitHub's rules", () => {
  assert.equal(
    anchorOf("Build a binary (online and air-gapped)"),
    "build-a-binary-online-and-air-gapped",
  );
  assert.equal(anchorOf("Why no `@std/*` packages"), "why-no-std-packages");
  assert.equal(
    anchorOf("Availability: what no credential-less client can do"),
    "availability-what-no-credential-less-client-can-do",
  );
  assert.equal(
    anchorOf("What is cached, and why that is safe"),
    "what-is-cached-and-why-that-is-safe",
  );
  assert.equal(anchorOf("`GET /token`"), "get-token");
  assert.equal(anchorOf("How to add a configuration key"), "how-to-add-a-configuration-key");
});

Deno.test("every relative link between the documents resolves, anchors included", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const document of documents()) {
    const base = new URL(document, ROOT);
    const markdown = Deno.readTextFileSync(base);
    for (const link of relativeLinks(markdown)) {
      checked++;
      const [path, anchor] = link.split("#", 2);
      const target = path === "" ? base : new URL(path, base);
      if (!exists(target)) {
        problems.push(`${document}: ${link}: no such file`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!target.pathname.endsWith(".md")) {
        problems.push(`${document}: ${link}: an anchor into a file that is not Markdown`);
        continue;
      }
      if (!anchorsOf(Deno.readTextFileSync(target)).has(decodeURIComponent(anchor))) {
        problems.push(`${document}: ${link}: no heading with that anchor`);
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} links found; is the link pattern broken?`);
  assert.deepEqual(problems, []);
});

Deno.test("the README links every page under docs/, SECURITY.md and CONTRIBUTING.md", () => {
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const linked = new Set(relativeLinks(readme).map((link) => link.split("#")[0]));
  for (const document of documents().filter((name) => name !== "README.md")) {
    assert.ok(linked.has(document), `README.md does not link ${document}`);
  }
});
