/**
 * Swagger UI at /docs in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against the live service (real containerd). It runs an execution
 * through "Try it out" and reads the result on the page. It fails (never skips) when
 * chromium is missing: `apt-get install -y chromium` (`bash scripts/setup.sh test` installs it).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { NO_LEAKS, settledLeaks, startRealService, testRuntimes, type RealService } from '../helpers/real-service.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const UI_TIMEOUT = 60_000;
const runtime = testRuntimes()[0]!;

async function openBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; bash scripts/setup.sh test does it)`);
  }
  // A fresh profile each time (playwright passes it as --user-data-dir).
  const profile = mkdtempSync(path.join(tmpdir(), 'kx-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: UI_TIMEOUT,
  });
  context.setDefaultTimeout(UI_TIMEOUT);
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** On a failure, a screenshot helps: it is written next to the temp files and named in the error. */
async function withScreenshot<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const file = path.join(tmpdir(), `kx-swagger-${name}-${Date.now()}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    throw new Error(`${(err as Error).message}\n(screenshot: ${file})`, { cause: err });
  }
}

/** Expands POST /v1/execute, "Try it out", fills the body, "Execute"; returns the response panel. */
async function tryItOut(page: Page, body: string) {
  const op = page.locator('#operations-execute-execute');
  await op.waitFor({ state: 'visible' });
  await op.locator('.opblock-summary').first().click();
  // "Try it out" / "Cancel" (in try-out mode Swagger UI also shows "Reset", of the same class).
  const tryOut = op.locator('button.try-out__btn:not(.reset)');
  await tryOut.waitFor({ state: 'visible' });
  // The service sets tryItOutEnabled, so the editor may already be open ("Cancel"): close
  // it, so that the test goes through the "Try it out" button as a person would.
  if ((await tryOut.innerText()).trim() === 'Cancel') {
    await tryOut.click();
    await expect.poll(async () => (await tryOut.innerText()).trim(), { timeout: UI_TIMEOUT }).toBe('Try it out');
  }
  await op.getByRole('button', { name: 'Try it out' }).click();
  await expect.poll(async () => (await tryOut.innerText()).trim(), { timeout: UI_TIMEOUT }).toBe('Cancel');
  const textarea = op.locator('textarea.body-param__text');
  await textarea.waitFor({ state: 'visible' });
  await textarea.fill(body);
  await op.locator('button.execute').click();
  const live = op.locator('.live-responses-table');
  await live.waitFor({ state: 'visible' });
  return live;
}

describe(`Swagger UI at /docs in headless Chromium (${runtime})`, () => {
  let svc: RealService;
  let browser: Awaited<ReturnType<typeof openBrowser>>;

  beforeAll(async () => {
    svc = await startRealService(runtime);
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.close();
    expect(await settledLeaks(svc?.runDir)).toEqual(NO_LEAKS);
  });

  it('shows the API and runs {"language":"python","code":"print(6*7)"} through "Try it out": the page shows 200 and 42', async () => {
    const page = await browser.context.newPage();
    await withScreenshot(page, 'try-it-out', async () => {
      const res = await page.goto(`${svc.url}/docs`, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      await page.locator('.swagger-ui .info .title').waitFor({ state: 'visible' });
      expect(await page.locator('.swagger-ui .info .title').innerText()).toContain('kata-exec');
      // Every public route is listed.
      for (const id of ['#operations-execute-execute', '#operations-execute-runtimes']) await page.locator(id).waitFor();

      const live = await tryItOut(page, '{"language":"python","code":"print(6*7)"}');
      const status = live.locator('.response .response-col_status').first();
      await expect.poll(async () => (await status.innerText()).trim(), { timeout: UI_TIMEOUT }).toBe('200');
      const shown = live.locator('.response .response-col_description pre').first();
      await shown.waitFor({ state: 'visible' });
      const text = await shown.innerText();
      expect(text).toContain('42');
      expect(JSON.parse(text)).toMatchObject({ status: 'ok', exitCode: 0, stdout: '42\n', language: 'python' });
    });
    await page.close();
  });

  it('shows a refusal as its problem body on the page', async () => {
    const page = await browser.context.newPage();
    await withScreenshot(page, 'refusal', async () => {
      await page.goto(`${svc.url}/docs`, { waitUntil: 'load' });
      const live = await tryItOut(page, '{"language":"cobol","code":"x"}');
      const status = live.locator('.response .response-col_status').first();
      await expect.poll(async () => (await status.innerText()).trim(), { timeout: UI_TIMEOUT }).toMatch(/^400/);
      const text = await live.locator('.response .response-col_description pre').first().innerText();
      expect(JSON.parse(text)).toMatchObject({ status: 400, code: 'UNKNOWN_LANGUAGE' });
    });
    await page.close();
  });
});

describe(`Swagger UI with API keys (${runtime})`, () => {
  let svc: RealService;
  let browser: Awaited<ReturnType<typeof openBrowser>>;

  beforeAll(async () => {
    svc = await startRealService(runtime, { KATA_EXEC_API_KEYS: API_KEYS });
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.close();
  });

  it('loads without a key, and runs after "Authorize" with a bearer token', async () => {
    const page = await browser.context.newPage();
    await withScreenshot(page, 'authorize', async () => {
      const res = await page.goto(`${svc.url}/docs`, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      await page.locator('button.authorize').first().click();
      const dialog = page.locator('.modal-ux');
      await dialog.waitFor({ state: 'visible' });
      await dialog.locator('input[type=text], input[type=password]').first().fill(TOKENS.alice);
      await dialog.locator('button.authorize').first().click();
      await dialog.locator('button.btn-done, button.close-modal').first().click();

      const live = await tryItOut(page, '{"language":"python","code":"print(6*7)"}');
      const status = live.locator('.response .response-col_status').first();
      await expect.poll(async () => (await status.innerText()).trim(), { timeout: UI_TIMEOUT }).toBe('200');
      expect(await live.locator('.response .response-col_description pre').first().innerText()).toContain('42');
    });
    await page.close();
  });
});
