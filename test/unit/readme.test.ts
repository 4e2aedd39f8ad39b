import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReadme } from '../../scripts/write-docs.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('README.md', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

  it('has the configuration and error tables the code generates (run: npm run docs)', () => {
    expect(readme).toBe(renderReadme(readme));
  });

  it('gives the two set-up commands that .ci/run and a fresh machine use', () => {
    expect(readme).toContain('bash scripts/quickstart.sh');
    expect(readme).toContain('npm test');
    expect(readFileSync(path.join(root, '.ci/run'), 'utf8')).toMatch(/^npm test$/m);
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.test).toBe('bash scripts/test.sh');
  });
});
