import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePdf } from "../../container/test/helpers/files";
import { freePort } from "../../tools/lib/ports";
import { ROOT } from "../../tools/stack/paths";
import { type Stack, startStack } from "../../tools/stack/stack";

/**
 * The console (/console) and the API docs page (/docs) in a real browser: headless Chromium
 * (Debian's `chromium` package; CHROMIUM_PATH overrides /usr/bin/chromium) driven by
 * playwright-core, against the real local stack on a free port. Every request the pages make to
 * anything but the stack is aborted and recorded (the pages must work offline), and every console
 * error is recorded (a Content-Security-Policy violation is one). Screenshots at desktop (1280)
 * and phone (390) widths go to test-artifacts/console/ (git-ignored).
 */
/** The uploaded PDF's unique fact: on its page 3 only. */
const PDF_FACT = "The heron index of the Lisbon plant is 7731.";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(ROOT, "test-artifacts/console");
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let stack: Stack;
let stateDir: string;
let browser: Browser;
let adminKey: string;

/** What a page did that it must not: requests off the stack's origin, console errors. */
interface Watch {
  offOrigin: string[];
  errors: string[];
}

function cli(args: string[], input = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "tools/cli/edge-rag.mjs"), ...args, "--persist-to", stateDir], {
      cwd: stateDir,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`edge-rag ${args[0]} exited ${code}: ${stderr}`))));
    child.stdin.end(input);
  });
}

async function newPage(viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; watch: Watch }> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const watch: Watch = { offOrigin: [], errors: [] };
  // Offline: only the stack answers.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === stack.url) return route.continue();
    watch.offOrigin.push(url);
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") watch.errors.push(message.text());
  });
  page.on("pageerror", (error) => watch.errors.push(error.message));
  page.on("dialog", (dialog) => void dialog.accept());
  return { context, page, watch };
}

/** Console errors but the API's own refusals the test provokes on purpose (a 401/404 is logged by Chromium). */
const unexpected = (watch: Watch) => watch.errors.filter((error) => !/the server responded with a status of (401|404)/.test(error));

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

async function signInWithKey(page: Page, key: string) {
  await page.goto(`${stack.url}/console`);
  await page.getByLabel("API key", { exact: true }).fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect.poll(() => page.locator("#who").textContent()).toContain("tenant console");
}

async function noHorizontalScroll(page: Page) {
  return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth");
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  stateDir = mkdtempSync(join(tmpdir(), "edge-rag-console-"));
  stack = await startStack({
    port: await freePort(),
    stateDir,
    workerVars: { RATE_LIMIT_QUERY: "100000/60s", RATE_LIMIT_INGEST: "10000/60s", RATE_LIMIT_AUTH: "1000/60s" },
    log: (component, line) => appendFileSync(join(stateDir, "stack.log"), `[${component}] ${line}\n`),
  });
  adminKey = (await cli(["keys", "create", "--tenant", "console", "--roles", "admin", "--name", "console-admin"]))
    .trim()
    .split("\n")
    .at(-1)!;
  await cli(["users", "create", "--tenant", "console", "--username", "grace", "--roles", "reader"], "a-long-password-42\n");
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe("/docs in a browser", () => {
  it("renders the API's operations offline, from this origin only, within its CSP", async () => {
    for (const [name, viewport] of [
      ["docs-desktop", DESKTOP],
      ["docs-phone", PHONE],
    ] as const) {
      const { context, page, watch } = await newPage(viewport);
      const response = await page.goto(`${stack.url}/docs`);
      expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
      await page.locator(".opblock").first().waitFor({ timeout: 30_000 });
      expect(await page.locator(".opblock").count()).toBeGreaterThan(10);
      await expect.poll(() => page.locator(".opblock-summary-path").allTextContents()).toContain("/v1/query");
      await expect.poll(() => page.locator(".info .title").first().textContent()).toContain("edge-rag");
      await shot(page, name);
      expect(watch.offOrigin).toEqual([]);
      expect(unexpected(watch)).toEqual([]);
      await context.close();
    }
  }, 120_000);
});

describe("the console in a browser", () => {
  let context: BrowserContext;
  let page: Page;
  let watch: Watch;

  beforeAll(async () => {
    ({ context, page, watch } = await newPage(DESKTOP));
  });
  afterAll(async () => {
    await context?.close();
  });

  it("security: a wrong key is refused on the page; a right one signs in, keeping only a token in sessionStorage", async () => {
    await page.goto(`${stack.url}/console`);
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe("api-key");
    await shot(page, "desktop-sign-in");
    await page.getByLabel("API key", { exact: true }).fill("erk_0000000000000000_notarealsecretnotarealsecretnotarealsecret0");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.locator("#sign-in-error").textContent()).toMatch(/401/);

    // Keyboard only: type the key, Enter submits.
    await page.getByLabel("API key", { exact: true }).fill(adminKey);
    await page.getByLabel("API key", { exact: true }).press("Enter");
    await expect.poll(() => page.locator("#who").textContent()).toContain("tenant console · admin");
    const stored = await page.evaluate("JSON.stringify(sessionStorage)");
    expect(stored).toContain("edge-rag.session");
    expect(stored).not.toContain(adminKey);
    expect(page.url()).toBe(`${stack.url}/console`);
    expect(await page.getByLabel("API key", { exact: true }).inputValue()).toBe("");
  }, 60_000);

  it("happy: documents are uploaded (files through the files route, a pasted text), and each job ends in done with each document's outcome", async () => {
    await page.getByRole("button", { name: "Documents" }).click();
    await page.locator("#upload-collection").fill("handbook");
    const pdf = await makePdf(
      ["Plant report, page one: the site and its staff.", "Page two lists the machines.", PDF_FACT],
      "Plant Report",
    );
    await page.setInputFiles("#files", [
      { name: "plant-report.pdf", mimeType: "application/pdf", buffer: Buffer.from(pdf) },
      {
        name: "cache.md",
        mimeType: "text/markdown",
        // Its text under two headings: its sources' section is the path, "Cache › Purging".
        buffer: Buffer.from(
          "# Cache\n\n## Purging\n\nAnswers are cached per tenant. Purge the cache with `edge-rag cache purge` after you change the documents.\n",
        ),
      },
      {
        name: "more.jsonl",
        mimeType: "application/x-ndjson",
        buffer: Buffer.from(
          `${JSON.stringify({ id: "limits", text: "Rate limits apply per API key and per tenant; a 429 answer carries Retry-After." })}\n${JSON.stringify({ _id: "quota", title: "Quotas", text: "Each tenant has a storage quota; beyond it, ingestion is refused with QUOTA_EXCEEDED." })}\n`,
        ),
      },
    ]);
    await page.getByLabel("Document id (optional)", { exact: true }).fill("keys.md");
    await page
      .getByLabel("Text", { exact: true })
      .fill(
        "# API keys\n\nTo rotate an API key, create a new key, move your clients to it, then revoke the old key. A revoked key stops working within seconds.",
      );
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith("/v1/documents/files")),
      page.getByRole("button", { name: "Upload" }).click(),
    ]);
    expect(request.headers()["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
    // Two jobs: the files' (one multipart request) and the pasted text's (JSON), the later one listed first.
    const jobs = page.locator("#jobs > li");
    await expect
      .poll(async () => (await jobs.count()) + ((await page.locator("#upload-error").textContent()) ?? ""), { timeout: 30_000 })
      .toBe("2");
    for (const job of await jobs.all()) await expect.poll(() => job.locator(".job-state").textContent(), { timeout: 120_000 }).toBe("done");
    const files = page.locator("#jobs > li", { hasText: "plant-report.pdf" });
    expect(await files.textContent()).toContain("4/4 documents");
    const bar = files.locator("progress");
    expect([await bar.getAttribute("value"), await bar.getAttribute("max")]).toEqual(["4", "4"]);
    // Each document's outcome, from the job.
    expect(await files.locator(".job-outcomes li").allTextContents()).toEqual([
      "cache.md indexed (1 chunk)",
      "limits indexed (1 chunk)",
      expect.stringMatching(/^plant-report\.pdf indexed \(\d+ chunks?\)$/),
      "quota indexed (1 chunk)",
    ]);
    expect(await jobs.first().locator(".job-outcomes li").allTextContents()).toEqual(["keys.md indexed (1 chunk)"]);
    // The list (GET /v1/documents) refreshes when a job ends, and filters by collection and status.
    const rows = page.locator("#documents-table tbody tr");
    await expect
      .poll(() => rows.locator("td:first-child").allTextContents())
      .toEqual(["cache.md", "keys.md", "limits", "plant-report.pdf", "quota"]);
    expect(await rows.first().textContent()).toMatch(/cache\.mdCachehandbookindexed1/);
    // Titles: a Markdown file's heading, a pasted text's when its id ends in .md, a BEIR line's title, the PDF's own.
    expect(await rows.locator("td:nth-child(2)").allTextContents()).toEqual(["Cache", "API keys", "—", "Plant Report", "Quotas"]);
    // A BEIR line's title became the document's metadata.title (searched by keyword ranking), as the CLI sends it.
    const quota = await fetch(`${stack.url}/v1/documents/quota`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(((await quota.json()) as { metadata: Record<string, unknown> }).metadata).toMatchObject({ title: "Quotas" });
    // And a Markdown file's first heading became its title.
    const cache = await fetch(`${stack.url}/v1/documents/cache.md`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(((await cache.json()) as { metadata: Record<string, unknown> }).metadata).toEqual({ title: "Cache" });
    await page.getByLabel("Status", { exact: true }).selectOption("failed");
    await page.getByRole("button", { name: "Show documents" }).click();
    await expect.poll(() => rows.allTextContents()).toEqual(["No documents."]);
    await page.getByLabel("Status", { exact: true }).selectOption("indexed");
    await page.getByLabel("In collection", { exact: true }).fill("handbook");
    await page.getByRole("button", { name: "Show documents" }).click();
    await expect.poll(() => rows.count()).toBe(5);
    await shot(page, "desktop-documents");
  }, 180_000);

  it("happy: a question's answer streams in, its citations link to their sources, with cache, timings and ranks shown", async () => {
    await page.getByRole("button", { name: "Ask" }).click();
    await page.getByLabel("Question", { exact: true }).fill("How do I rotate an API key?");
    await page.getByLabel("Mode", { exact: true }).selectOption("keyword");
    await page.locator("#ask-collection").fill("handbook");
    await page.getByLabel("Explain ranking", { exact: true }).check();
    expect(await page.getByLabel("Stream the answer", { exact: true }).isChecked()).toBe(true);
    const [request, response] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions")),
      page.waitForResponse((r) => r.url().endsWith("/v1/chat/completions")),
      page.getByRole("button", { name: "Ask", exact: true }).last().click(),
    ]);
    expect(request.postDataJSON()).toMatchObject({
      model: "edge-rag/handbook",
      messages: [{ role: "user", content: "How do I rotate an API key?" }],
      stream: true,
      mode: "keyword",
      explain: true,
    });
    expect(request.headers().authorization).toMatch(/^Bearer ey/); // the session's JWT, not the key
    expect(response.headers()["content-type"]).toMatch(/^text\/event-stream/);
    const turn = page.locator("#turn-1");
    await turn.locator('.meta dd[data-field="cache"]').waitFor();
    expect(await turn.locator(".answer").textContent()).toMatch(/rotate/i);
    expect(await turn.locator('.meta dd[data-field="cache"]').textContent()).toMatch(/^(miss|hit|stale)/);
    expect(await turn.locator('.meta dd[data-field="timings"]').textContent()).toMatch(/embed .* ms · retrieve .* ms · generate .* ms/);
    expect(await turn.locator('.meta dd[data-field="degraded"]').textContent()).toEqual(expect.any(String));
    // A first question is answered as asked.
    expect(await turn.locator('.meta dd[data-field="asked-as"]').count()).toBe(0);

    const first = turn.locator(".sources > li").first();
    expect(await first.textContent()).toContain("keys.md");
    expect(await first.textContent()).toContain("handbook");
    expect(await first.textContent()).toMatch(/Ranks.*keyword #1/);
    // A pasted text has neither page nor section: no location line.
    expect(await first.locator(".source-location").count()).toBe(0);

    const cite = turn.locator(".answer a.cite").first();
    expect(await cite.count()).toBe(1);
    const target = (await cite.getAttribute("href"))!.slice(1);
    await cite.click();
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe(target);
    expect(await page.locator(`#${target}`).getAttribute("class")).toContain("cited");
    await shot(page, "desktop-ask");
  }, 120_000);

  it("happy: a follow-up keeps the conversation: sent with its history, condensed (shown), each answer with its own sources", async () => {
    expect(await page.getByLabel("Question", { exact: true }).inputValue()).toBe("");
    await page.getByLabel("Question", { exact: true }).fill("How soon does the old one stop working?");
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions")),
      page.getByRole("button", { name: "Ask", exact: true }).last().click(),
    ]);
    const { messages } = request.postDataJSON() as { messages: Array<{ role: string; content: string }> };
    expect(messages.map((message) => message.role)).toEqual(["user", "assistant", "user"]);
    expect(messages[1]!.content).toBe(await page.locator("#turn-1 .answer").textContent());
    const turn = page.locator("#turn-2");
    await turn.locator('.meta dd[data-field="cache"]').waitFor();
    expect(await turn.locator('.meta dd[data-field="asked-as"]').textContent()).toMatch(
      /^How soon does the old one stop working\? \(.*rotate.*API.*key.*\) \(rules\)$/,
    );
    expect(await turn.locator(".answer").textContent()).toMatch(/within seconds/);
    expect(await turn.locator(".sources > li").first().textContent()).toContain("keys.md");
    // Each answer keeps its sources, and its citations point at its own.
    expect(await page.locator("#turn-1 .sources > li").count()).toBeGreaterThan(0);
    expect(await turn.locator(".answer a.cite").first().getAttribute("href")).toMatch(/^#source-2-\d+$/);
    await shot(page, "desktop-conversation");

    await page.getByRole("button", { name: "New conversation" }).click();
    expect(await page.locator("#turns > li").count()).toBe(0);
  }, 120_000);

  it("happy: questions about uploaded files cite where their facts are: a PDF's page (p. 3), a Markdown file's heading path (Cache › Purging)", async () => {
    /** Asks in a new conversation; its only turn (turn ids keep counting across conversations). */
    const askAlone = async (question: string) => {
      await page.getByLabel("Question", { exact: true }).fill(question);
      await page.getByRole("button", { name: "Ask", exact: true }).last().click();
      const turn = page.locator("#turns > li").last();
      await turn.locator('.meta dd[data-field="cache"]').waitFor();
      expect(await page.locator("#turns > li").count()).toBe(1);
      return turn;
    };
    await page.locator('nav button[data-panel="ask"]').click();
    const pdf = (await askAlone("What is the heron index of the Lisbon plant?")).locator(".sources > li", { hasText: PDF_FACT });
    expect(await pdf.locator(".source-title").textContent()).toContain("Plant Report");
    // A PDF's source has a page and no section.
    expect(await pdf.locator(".source-location").textContent()).toBe("p. 3");
    await shot(page, "desktop-ask-pdf");
    await page.getByRole("button", { name: "New conversation" }).click();

    const markdown = (await askAlone("How do I purge the cache?")).locator(".sources > li", { hasText: "Purge the cache" });
    expect(await markdown.locator(".source-title").textContent()).toContain("Cache");
    // A Markdown file's source has its heading path and no page.
    expect(await markdown.locator(".source-location").textContent()).toBe("Cache › Purging");
    await shot(page, "desktop-ask-section");
    await page.getByRole("button", { name: "New conversation" }).click();
  }, 60_000);

  it("happy: a listed document opens, is deleted, and is gone from the list and the API", async () => {
    await page.getByRole("button", { name: "Documents" }).click();
    await page.getByRole("button", { name: "Open cache.md" }).click();
    const article = page.getByRole("article", { name: "document cache.md" });
    await article.waitFor();
    expect(await article.textContent()).toContain("Purge the cache");
    expect(await article.locator("dl").textContent()).toMatch(/^TitleCacheCollectionhandbook/);
    await article.getByRole("button", { name: "Delete cache.md" }).click();
    await expect.poll(() => page.locator("#document-detail").textContent()).toBe("");
    await expect
      .poll(() => page.locator("#documents-table tbody td:first-child").allTextContents())
      .toEqual(["keys.md", "limits", "plant-report.pdf", "quota"]);
    await page.getByLabel("Open a document by id", { exact: true }).fill("cache.md");
    await page.getByRole("button", { name: "Open", exact: true }).click();
    await expect.poll(() => page.locator("#documents-error").textContent()).toMatch(/404/);
  }, 60_000);

  it("happy: an admin creates a key (shown once), it works, and revoking it in the list stops it", async () => {
    await page.getByRole("button", { name: "API keys" }).click();
    await page.getByLabel("Name", { exact: true }).fill("laptop");
    await page.getByRole("button", { name: "Create key" }).click();
    const value = page.getByLabel("Key", { exact: true });
    await expect.poll(() => value.inputValue()).toMatch(/^erk_/);
    const key = await value.inputValue();
    const me = await fetch(`${stack.url}/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    const row = page.locator("#keys-table tbody tr", { hasText: "laptop" });
    expect(await row.textContent()).toContain("active");
    expect(await page.locator("#keys-table").textContent()).not.toContain(key.slice(-20)); // never the secret
    await shot(page, "desktop-keys");
    await row.getByRole("button", { name: /Revoke key laptop/ }).click();
    await expect.poll(() => row.locator("td.state-revoked").count()).toBe(1);
    await expect
      .poll(async () => (await fetch(`${stack.url}/v1/me`, { headers: { authorization: `Bearer ${key}` } })).status, { timeout: 30_000 })
      .toBe(401);
  }, 60_000);

  it("security: signing out revokes the token at the API and forgets it", async () => {
    const { token } = JSON.parse((await page.evaluate('sessionStorage.getItem("edge-rag.session")')) as string);
    expect((await fetch(`${stack.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key", { exact: true }).waitFor();
    expect(await page.evaluate('sessionStorage.getItem("edge-rag.session")')).toBeNull();
    // Before, the token stayed valid until it expired (up to 15 minutes).
    const after = await fetch(`${stack.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { code: string }).code).toBe("TOKEN_REVOKED");
    expect(watch.offOrigin).toEqual([]);
    expect(unexpected(watch)).toEqual([]);
  }, 30_000);
});

describe("the console at a phone's width", () => {
  it("signs in with a username and password, asks without streaming, and fits the screen", async () => {
    const { context, page, watch } = await newPage(PHONE);
    await page.goto(`${stack.url}/console`);
    await page.getByLabel("a username and password", { exact: true }).check();
    await page.getByLabel("Username", { exact: true }).fill("grace");
    await page.getByLabel("Password", { exact: true }).fill("a-long-password-42");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.locator("#who").textContent()).toContain("tenant console · reader");
    // A reader: no API keys section, and no uploads.
    expect(await page.getByRole("button", { name: "API keys" }).isVisible()).toBe(false);
    await page.getByLabel("Question", { exact: true }).fill("What happens beyond the storage quota?");
    await page.getByLabel("Stream the answer", { exact: true }).uncheck();
    await page.getByRole("button", { name: "Ask", exact: true }).last().click();
    await page.locator('#turn-1 .meta dd[data-field="cache"]').waitFor();
    expect(await page.locator("#turn-1 .sources").textContent()).toContain("quota");
    expect(await noHorizontalScroll(page)).toBe(true);
    await shot(page, "phone-ask");
    await page.getByRole("button", { name: "Documents" }).click();
    // A reader: a note instead of the upload form and the (writer-only) jobs.
    expect(await page.locator("#upload-form").isVisible()).toBe(false);
    expect(await page.locator("#jobs-card").isVisible()).toBe(false);
    expect(await page.getByText("need the writer role").isVisible()).toBe(true);
    // It lists the documents, without Delete buttons.
    await expect
      .poll(() => page.locator("#documents-table tbody td:first-child").allTextContents())
      .toEqual(["keys.md", "limits", "plant-report.pdf", "quota"]);
    expect(await page.getByRole("button", { name: "Open keys.md" }).isVisible()).toBe(true);
    expect(await page.getByRole("button", { name: /^Delete / }).count()).toBe(0);
    expect(await noHorizontalScroll(page)).toBe(true);
    await shot(page, "phone-documents");
    expect(watch.offOrigin).toEqual([]);
    expect(unexpected(watch)).toEqual([]);
    await context.close();
  }, 120_000);

  it("shows an admin's key list as one card per key", async () => {
    const { context, page, watch } = await newPage(PHONE);
    await signInWithKey(page, adminKey);
    await page.getByRole("button", { name: "API keys" }).click();
    await page.locator("#keys-table tbody tr").first().waitFor();
    expect(await noHorizontalScroll(page)).toBe(true);
    await shot(page, "phone-keys");
    expect(unexpected(watch)).toEqual([]);
    await context.close();
  }, 60_000);
});
