import { describe, expect, it } from 'vitest';
import { execute, expectProblem } from '../helpers/problem.js';
import { useTestApps } from '../helpers/test-apps.js';

const setup = useTestApps();
/** The default image's /etc/kata-exec/languages.json. */
const DEFAULT_IMAGE = { python: '3.11.2', javascript: '18.20.4', bash: '5.2.15' };

describe('a language the running image does not hold', () => {
  it('422 LANGUAGE_NOT_AVAILABLE names the image that holds it, and runs nothing', async () => {
    const t = await setup({ imageLanguages: DEFAULT_IMAGE });
    for (const language of ['c', 'c++', 'GO', 'java']) {
      const p = expectProblem(await execute(t.app, { language, code: 'x' }), 422, 'LANGUAGE_NOT_AVAILABLE');
      expect(p.detail).toContain('toolruntime-sandbox-full:latest');
      expect(p.detail).toContain(t.config.image);
      expect(p.errors).toEqual([{ path: '/language', message: expect.any(String) }]);
    }
    expect(t.runner.calls).toHaveLength(0);
  });

  it('runs a language the image holds, by name or alias', async () => {
    const t = await setup({ imageLanguages: { ...DEFAULT_IMAGE, ruby: '3.1.2' } });
    t.runner.always({ stdout: 'hi\n' });
    for (const language of ['ruby', 'rb', 'python']) {
      const res = await execute(t.app, { language, code: 'x' });
      expect(res.statusCode, res.body).toBe(200);
    }
    expect(t.runner.calls).toHaveLength(3);
    expect(t.runner.calls[0]!.spec.labels['org.kata-exec.language']).toBe('ruby');
  });

  it('an unknown language stays 400 UNKNOWN_LANGUAGE, whatever the image holds', async () => {
    const t = await setup({ imageLanguages: DEFAULT_IMAGE });
    const p = expectProblem(await execute(t.app, { language: 'cobol', code: 'x' }), 400, 'UNKNOWN_LANGUAGE');
    expect(p.known).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
  });
});
