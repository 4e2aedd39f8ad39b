/**
 * Regenerates the README's generated blocks from the code: the configuration table
 * (src/config.ts), the error codes table (src/http/error-map.ts) and the languages table
 * (src/execution/languages.ts).
 *   npx tsx scripts/write-docs.ts          rewrite README.md
 *   test/unit/readme.test.ts               fails when README.md is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configTable } from '../src/config.js';
import { CODE_MEANING, STATUS_BY_CODE } from '../src/http/error-map.js';
import { IMAGE_OF_VARIANT, LANGUAGES } from '../src/execution/languages.js';

/** Each language's commands as languages.ts builds them for its entry file under /code. */
export function languagesTable(): string {
  const sh = (argv: string[]) => `\`${argv.join(' ')}\``;
  const rows = LANGUAGES.map((l) => {
    const entry = `/code/${l.file}`;
    const compile = l.compile ? `${(l.compile.env ?? []).length ? `${l.compile.env!.join(' ')} ` : ''}${l.compile.command(entry, []).join(' ')}` : null;
    return `| ${l.name} | ${l.aliases.join(', ') || '-'} | ${l.file} | ${compile ? `\`${compile}\`` : '-'} | ${sh(l.command(entry))} | ${l.image} (\`${IMAGE_OF_VARIANT[l.image]}\`) |`;
  });
  return ['| language | aliases | entry file | compile (in /code) | run | image |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export function errorCodesTable(): string {
  const rows = Object.entries(STATUS_BY_CODE)
    .sort(([a, sa], [b, sb]) => sa - sb || a.localeCompare(b))
    .map(([code, status]) => `| ${status} | \`${code}\` | ${CODE_MEANING[code as keyof typeof CODE_MEANING]} |`);
  return ['| HTTP | code | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export const BLOCKS: Record<string, () => string> = {
  'config-table': configTable,
  'error-codes': errorCodesTable,
  'languages-table': languagesTable,
};

export function renderReadme(readme: string): string {
  let out = readme;
  for (const [name, render] of Object.entries(BLOCKS)) {
    const re = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(out)) throw new Error(`README.md has no <!-- ${name}:start --> block`);
    out = out.replace(re, `$1\n${render()}\n$2`);
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const file = path.resolve(import.meta.dirname, '../README.md');
  writeFileSync(file, renderReadme(readFileSync(file, 'utf8')));
  console.log(`wrote ${file}`);
}
