/**
 * Writes openapi/openapi.json: the OpenAPI 3.1 document that @fastify/swagger builds from
 * the routes' TypeBox schemas. The app is built over fakes (no containerd needed); the
 * document depends only on the routes. test/http/openapi.test.ts keeps the committed file
 * in step with the served one. Run: npm run openapi
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildTestApp } from '../test/helpers/build-test-app.js';

const OPENAPI_FILE = fileURLToPath(new URL('../openapi/openapi.json', import.meta.url));

/** The document exactly as committed: 2-space JSON and a trailing newline. */
function renderOpenApi(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

async function main(): Promise<void> {
  const { app } = await buildTestApp();
  try {
    const doc = app.swagger();
    await mkdir(fileURLToPath(new URL('../openapi/', import.meta.url)), { recursive: true });
    await writeFile(OPENAPI_FILE, renderOpenApi(doc));
    process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
  } finally {
    await app.close();
  }
}

await main();
