/**
 * clients/typescript/schema.d.ts is generated from openapi/openapi.json by
 * openapi-typescript (`npm run client`) and committed. This regenerates it in memory, as
 * the CLI does, and fails when the committed file differs. (test/http/openapi.test.ts
 * checks the other link of the chain: the routes against openapi/openapi.json.)
 */
import { readFile } from 'node:fs/promises';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

const DOC = new URL('../../openapi/openapi.json', import.meta.url);
const SCHEMA = new URL('../../clients/typescript/schema.d.ts', import.meta.url);
const STALE = 'clients/typescript/schema.d.ts is out of date with openapi/openapi.json: run npm run client and commit the result';

describe('generated TypeScript client', () => {
  it('schema.d.ts equals what openapi-typescript generates from openapi/openapi.json', async () => {
    let committed: string;
    try {
      committed = await readFile(SCHEMA, 'utf8');
    } catch {
      expect.fail('clients/typescript/schema.d.ts is missing: run npm run client');
    }
    const generated = `${COMMENT_HEADER}${astToString(await openapiTS(DOC, { silent: true }))}`;
    // Compare line by line first, for a readable diff, then byte for byte.
    expect(committed.split('\n'), STALE).toEqual(generated.split('\n'));
    expect(committed === generated, STALE).toBe(true);
  }, 60_000);

  it('the generated types describe the operations the client uses', async () => {
    const text = await readFile(SCHEMA, 'utf8');
    for (const op of ['execute: {', 'runtimes: {', '"/v1/execute": {', '"/v1/runtimes": {', '"application/problem+json"', '"text/event-stream"']) {
      expect(text, `schema.d.ts lacks ${op}: run npm run client`).toContain(op);
    }
  });
});
