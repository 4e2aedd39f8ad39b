/**
 * src/judge0: Judge0 submissions to ExecuteRequests and results back to Judge0's fields,
 * statuses and units. Judge0 CE's behaviour is from its documentation
 * (https://ce.judge0.com, docs/api/submissions in github.com/judge0/judge0) and its worker
 * (app/jobs/isolate_job.rb: status from isolate's meta, Base64, the output comparison).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, KataExecError, LimitExceededError, NotSupportedError } from '../../src/errors.js';
import {
  ALL_FIELDS,
  decodeBase64Text,
  encodeBase64Text,
  inSubmissionTerms,
  parseFields,
  pickFields,
  toExecuteRequest,
  toSubmissionResult,
  type JudgeResult,
  type TestOutcome,
} from '../../src/judge0/mapping.js';
import { compareVersions, judge0Name, languageOfJudge0Id, primaryJudge0Id, JUDGE0_LANGUAGE_IDS } from '../../src/judge0/languages.js';
import { shellWords } from '../../src/judge0/shell-words.js';
import { JUDGE0_STATUSES, signalNumber, statusOfSignal } from '../../src/judge0/statuses.js';
import type { Judge0Submission } from '../../src/schemas/judge0.js';

function codeOf(fn: () => unknown): { code: string; fields: { path: string; message: string }[] } {
  try {
    fn();
  } catch (e) {
    const k = e as KataExecError;
    return { code: k.code, fields: k.fields ?? [] };
  }
  throw new Error('expected a throw');
}

describe('Judge0 language ids', () => {
  it('maps the classic ids clients hard-code to our languages', () => {
    const expected: Record<number, string> = { 46: 'bash', 50: 'c', 54: 'cpp', 60: 'go', 62: 'java', 63: 'javascript', 68: 'php', 71: 'python', 72: 'ruby', 73: 'rust', 74: 'typescript', 85: 'perl', 92: 'python', 93: 'javascript' };
    for (const [id, lang] of Object.entries(expected)) expect(languageOfJudge0Id(Number(id))?.language, `id ${id}`).toBe(lang);
  });

  it('leaves out other compilers and other languages (Clang, Python 2, multi-file)', () => {
    for (const id of [70, 75, 76, 89, 104, 43, 44, 150000]) expect(languageOfJudge0Id(id)).toBeUndefined();
    expect(new Set(JUDGE0_LANGUAGE_IDS.map((l) => l.id)).size).toBe(JUDGE0_LANGUAGE_IDS.length);
  });

  it('lists, per language, the newest Judge0 version not newer than ours', () => {
    expect(primaryJudge0Id('python', '3.11.2')).toBe(92);
    expect(primaryJudge0Id('python', '3.12.9')).toBe(100);
    expect(primaryJudge0Id('javascript', '18.20.4')).toBe(93);
    expect(primaryJudge0Id('c', '12.2.0')).toBe(50);
    expect(primaryJudge0Id('go', '1.19.8')).toBe(95);
    expect(primaryJudge0Id('rust', '1.63.0')).toBe(73);
    expect(primaryJudge0Id('java', '17.0.13')).toBe(91);
    // Older than every Judge0 version: the oldest; no version: the first.
    expect(primaryJudge0Id('python', '3.5.0')).toBe(71);
    expect(primaryJudge0Id('c', null)).toBe(48);
    expect(primaryJudge0Id('cobol', '1')).toBeUndefined();
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0);
    expect(compareVersions('12.2.0-14', '12.2.0')).toBe(0);
  });

  it("names a language Judge0's way, with our version", () => {
    expect(judge0Name('c', '12.2.0')).toBe('C (GCC 12.2.0)');
    expect(judge0Name('javascript', '18.20.4')).toBe('JavaScript (Node.js 18.20.4)');
    expect(judge0Name('python', null)).toBe('Python');
  });
});

describe('Judge0 statuses', () => {
  it('has the 14 documented statuses in id order', () => {
    expect(JUDGE0_STATUSES.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(JUDGE0_STATUSES[2]).toEqual({ id: 3, description: 'Accepted' });
    expect(JUDGE0_STATUSES[10]).toEqual({ id: 11, description: 'Runtime Error (NZEC)' });
  });

  it('gives signals their runtime-error status and Linux number', () => {
    expect(['SIGSEGV', 'SIGXFSZ', 'SIGFPE', 'SIGABRT', 'SIGKILL', 'SIGBUS'].map(statusOfSignal)).toEqual([7, 8, 9, 10, 12, 12]);
    expect(signalNumber('SIGSEGV')).toBe(11);
    expect(signalNumber('SIGKILL')).toBe(9);
    expect(signalNumber(null)).toBeNull();
    expect(signalNumber('NOPE')).toBeNull();
  });
});

describe('shellWords', () => {
  it('splits as a shell would, without expanding anything', () => {
    expect(shellWords('  -O2 -Wall  -lm ')).toEqual(['-O2', '-Wall', '-lm']);
    expect(shellWords(`a 'b c' "d \\"e\\"" f\\ g '' $HOME`)).toEqual(['a', 'b c', 'd "e"', 'f g', '', '$HOME']);
    expect(shellWords('')).toEqual([]);
    expect(() => shellWords("'open")).toThrow(/unterminated single quote/);
  });
});

describe('Base64', () => {
  it('decodes with or without line breaks and padding, refuses what is not Base64 or not UTF-8', () => {
    expect(decodeBase64Text('SnVkZ2Uw')).toBe('Judge0');
    expect(decodeBase64Text('aGVsbG8s\nIEp1ZGdlMAo=\n')).toBe('hello, Judge0\n');
    expect(decodeBase64Text('aGk')).toBe('hi');
    expect(decodeBase64Text('not base64!')).toBeNull();
    expect(decodeBase64Text('a')).toBeNull();
    expect(decodeBase64Text(Buffer.from([0xff, 0xfe]).toString('base64'))).toBeNull();
    expect(encodeBase64Text('hello, Judge0\n')).toBe('aGVsbG8sIEp1ZGdlMAo=');
    expect(encodeBase64Text(null)).toBeNull();
  });
});

// The C program and stdin of the documentation's "Create a Submission" examples.
const C_HELLO = '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}';

describe('toExecuteRequest', () => {
  it('makes one test carrying stdin and expected_output, limits in our units, compared as Judge0 does', () => {
    const sub: Judge0Submission = {
      source_code: 'print(input())',
      language_id: '71',
      stdin: 'Judge0',
      expected_output: 'Judge0',
      cpu_time_limit: 1.5,
      wall_time_limit: '3',
      memory_limit: 128000,
      max_processes_and_or_threads: 30,
      command_line_arguments: "-v 'a b'",
    };
    const plan = toExecuteRequest(sub, false);
    expect(plan.languageId).toBe(71);
    expect(plan.request).toEqual({
      language: 'python',
      code: 'print(input())',
      args: ['-v', 'a b'],
      limits: { pids: 30 },
      tests: [{ stdin: 'Judge0', expectedOutput: 'Judge0', timeoutMs: 3000, cpuTimeMs: 1500, memoryMb: 125 }],
      compare: { mode: 'trailing_whitespace' },
    });
  });

  it('decodes Base64 fields with base64_encoded=true (the documentation example)', () => {
    const sub = { source_code: Buffer.from(C_HELLO).toString('base64'), language_id: 50, stdin: 'SnVkZ2Uw' };
    const plan = toExecuteRequest(sub, true);
    expect(plan.request.code).toBe(C_HELLO);
    expect(plan.request.tests).toEqual([{ stdin: 'Judge0' }]);
    expect(plan.echo.stdin).toBe('SnVkZ2Uw');
  });

  it('refuses Base64 that is not, naming each field', () => {
    const e = codeOf(() => toExecuteRequest({ source_code: '%%%', language_id: 71, stdin: 'b2s=', expected_output: '@@' }, true));
    expect(e.code).toBe(ErrorCode.ValidationFailed);
    expect(e.fields.map((f) => f.path)).toEqual(['/source_code', '/expected_output']);
  });

  it('repeats the test for number_of_runs, within 1 to 20', () => {
    expect(toExecuteRequest({ source_code: 'x', language_id: 71, number_of_runs: 3, stdin: 'a' }, false).request.tests).toEqual([{ stdin: 'a' }, { stdin: 'a' }, { stdin: 'a' }]);
    expect(codeOf(() => toExecuteRequest({ source_code: 'x', language_id: 71, number_of_runs: 21 }, false)).fields).toEqual([
      { path: '/number_of_runs', message: 'must be an integer from 1 to 20' },
    ]);
  });

  it('answers UNKNOWN_LANGUAGE for an id this service does not run (the documentation example 150000)', () => {
    const e = codeOf(() => toExecuteRequest({ source_code: C_HELLO, language_id: 150000 }, false, '/submissions/2'));
    expect(e.code).toBe(ErrorCode.UnknownLanguage);
    expect(e.fields[0]!.path).toBe('/submissions/2/language_id');
  });

  it('refuses, with NOT_SUPPORTED, every field that would change the result and cannot be done here', () => {
    const e = codeOf(() =>
      toExecuteRequest(
        {
          source_code: 'x',
          language_id: 71,
          callback_url: 'https://example.com/cb',
          additional_files: 'UEsDBA==',
          stack_limit: 64000,
          max_file_size: 1024,
          enable_per_process_and_thread_time_limit: true,
          enable_per_process_and_thread_memory_limit: true,
          redirect_stderr_to_stdout: true,
          enable_network: true,
        },
        false,
      ),
    );
    expect(e.code).toBe(ErrorCode.NotSupported);
    expect(e.fields.map((f) => f.path)).toEqual([
      '/callback_url',
      '/additional_files',
      '/stack_limit',
      '/max_file_size',
      '/enable_per_process_and_thread_time_limit',
      '/enable_per_process_and_thread_memory_limit',
      '/redirect_stderr_to_stdout',
      '/enable_network',
    ]);
    // Their defaults (null, false, "") are what this service does: accepted.
    const ok = toExecuteRequest(
      { source_code: 'x', language_id: 71, callback_url: '', enable_network: false, redirect_stderr_to_stdout: false, stack_limit: null, cpu_extra_time: 0.5 },
      false,
    );
    expect(ok.request.tests).toEqual([{}]);
  });

  it('refuses compiler_options for an interpreted language, and values out of range', () => {
    const e = codeOf(() => toExecuteRequest({ source_code: 'x', language_id: 71, compiler_options: '-O2', cpu_time_limit: 0, cpu_extra_time: 6, max_processes_and_or_threads: 0 }, false));
    expect(e.code).toBe(ErrorCode.ValidationFailed);
    expect(e.fields.map((f) => f.path).sort()).toEqual(['/compiler_options', '/cpu_extra_time', '/cpu_time_limit', '/max_processes_and_or_threads']);
  });
});

describe('inSubmissionTerms', () => {
  it("renames the service's field paths to Judge0's and its maxima to Judge0's units", () => {
    const err = new LimitExceededError([
      { path: '/tests/0/cpuTimeMs', message: 'must be at most 30000 (server maximum)' },
      { path: '/tests/0/memoryMb', message: 'must be at most 2048 (server maximum)' },
      { path: '/limits/pids', message: 'must be at most 512 (server maximum)' },
    ]);
    const out = inSubmissionTerms(err, '/submissions/1') as KataExecError;
    expect(out.code).toBe(ErrorCode.LimitExceeded);
    expect(out.fields).toEqual([
      { path: '/submissions/1/cpu_time_limit', message: 'must be at most 30 (server maximum) (seconds)' },
      { path: '/submissions/1/memory_limit', message: 'must be at most 2097152 (server maximum) (kilobytes)' },
      { path: '/submissions/1/max_processes_and_or_threads', message: 'must be at most 512 (server maximum)' },
    ]);
    expect(out.message).toMatch(/^limits above the server maximum: \/submissions\/1\/cpu_time_limit must be at most 30/);
    // Too many tests is too many runs; any other error about the tests is told as it is.
    expect((inSubmissionTerms(new LimitExceededError([{ path: '/tests', message: 'must have at most 8 items' }])) as KataExecError).fields).toEqual([
      { path: '/number_of_runs', message: 'must have at most 8 items' },
    ]);
    expect((inSubmissionTerms(new NotSupportedError('x', [{ path: '/tests', message: 'not yet' }])) as KataExecError).fields).toEqual([{ path: '/tests', message: 'not yet' }]);
    const plain = new Error('x');
    expect(inSubmissionTerms(plain)).toBe(plain);
  });
});

function result(over: Partial<JudgeResult>): JudgeResult {
  return {
    id: 'kx-0123456789abcdef0123',
    sandboxId: 'kx-0123456789abcdef0123',
    status: 'ok',
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: false,
    droppedBytes: { stdout: 0, stderr: 0 },
    durationMs: 10,
    timing: { queuedMs: 0, setupMs: 1, runMs: 2 },
    usage: null,
    language: 'python',
    backend: { kind: 'gvisor', ociRuntime: 'io.containerd.runsc.v1', hypervisor: null, isolation: 'gvisor', profile: 'standard' },
    limits: { timeoutMs: 1, memoryMb: 1, cpus: 1, pids: 1, diskMb: 1, outputBytes: 1, openFiles: 8 },
    limitsEnforced: { timeout: true, memory: true, cpu: true, pids: true, disk: true, output: true, openFiles: true, cpuTime: false, network: true, readOnlyRootfs: true, seccomp: true },
    ...over,
  };
}

function test1(over: Partial<TestOutcome>): TestOutcome {
  return { verdict: 'accepted', exitCode: 0, signal: null, stdout: '', stderr: '', truncated: false, cpuTimeMs: 1, wallMs: 3, maxRssKb: 380, limits: { timeoutMs: 5000, cpuTimeMs: null, memoryMb: 256 }, ...over };
}

function answer(r: JudgeResult, base64 = false, sub: Judge0Submission = { source_code: 'x', language_id: 71 }) {
  const plan = toExecuteRequest(sub, false);
  return toSubmissionResult(r, { plan, languageName: 'Python (3.11.2)', base64, createdAt: new Date(0), finishedAt: new Date(1000) });
}

describe('toSubmissionResult', () => {
  it("answers the documentation's wait=true example: Accepted, time as a string of seconds, memory in KB, empty streams null", () => {
    const a = answer(result({ tests: [test1({ stdout: 'hello, Judge0\n', cpuTimeMs: 1, wallMs: 12.5, maxRssKb: 380 })] }));
    expect(pickFields(a, parseFields(undefined))).toEqual({
      token: 'kx-0123456789abcdef0123',
      time: '0.001',
      memory: 380,
      stdout: 'hello, Judge0\n',
      stderr: null,
      compile_output: null,
      message: null,
      status: { id: 3, description: 'Accepted' },
    });
    expect(a).toMatchObject({ exit_code: 0, exit_signal: null, wall_time: '0.013', language_id: 71, language: { id: 71, name: 'Python (3.11.2)' }, created_at: '1970-01-01T00:00:00.000Z' });
  });

  it('gives each verdict its Judge0 status and isolate-like message', () => {
    const one = (t: Partial<TestOutcome>) => {
      const a = answer(result({ status: 'error', tests: [test1(t)] }));
      return [a.status!.id, a.message, a.exit_code, a.exit_signal];
    };
    expect(one({ verdict: 'wrong_answer', stdout: 'x' })).toEqual([4, null, 0, null]);
    expect(one({ verdict: 'time_limit', signal: 'SIGKILL', exitCode: 137 })).toEqual([5, 'Time limit exceeded', 0, 9]);
    expect(one({ verdict: 'runtime_error', exitCode: 1 })).toEqual([11, 'Exited with error status 1', 1, null]);
    expect(one({ verdict: 'runtime_error', signal: 'SIGSEGV', exitCode: 139 })).toEqual([7, 'Caught fatal signal 11', 0, 11]);
    expect(one({ verdict: 'runtime_error', signal: 'SIGFPE', exitCode: 136 })).toEqual([9, 'Caught fatal signal 8', 0, 8]);
    expect(one({ verdict: 'runtime_error', signal: 'SIGABRT', exitCode: 134 })).toEqual([10, 'Caught fatal signal 6', 0, 6]);
    expect(one({ verdict: 'memory_limit', signal: 'SIGKILL', exitCode: 137 })).toEqual([12, 'Memory limit exceeded', 0, 9]);
    expect(one({ verdict: 'output_limit' })).toEqual([8, 'Output limit exceeded', 0, null]);
  });

  it('answers a run that ended with its sandbox at the pids limit (gVisor) as Runtime Error (Other), not an exit status', () => {
    const t = test1({ verdict: 'runtime_error', exitCode: null, signal: null });
    const a = answer(result({ status: 'killed', exitCode: null, killedBy: 'pids_limit', tests: [t] }));
    expect([a.status!.id, a.message, a.exit_code, a.exit_signal]).toEqual([12, 'Process limit exceeded', 0, null]);
    // Without the service's word for it, the same run is an exit status it never had: the message says so.
    expect(answer(result({ status: 'error', exitCode: null, tests: [t] })).message).toBe('Exited with error status ?');
  });

  it("answers a compile error as Judge0 does: status 6, the compiler's output, nothing of a run", () => {
    const a = answer(
      result({ status: 'compile_error', exitCode: null, compile: { status: 'error', exitCode: 1, signal: null, stdout: '', stderr: "main.c:4:1: error: expected ';'\n", truncated: false, usage: null, durationMs: 80 } }),
    );
    expect(a).toMatchObject({ status: { id: 6, description: 'Compilation Error' }, compile_output: "main.c:4:1: error: expected ';'\n", stdout: null, time: null, memory: null, exit_code: null });
    const slow = answer(result({ status: 'compile_error', compile: { status: 'timeout', exitCode: null, signal: 'SIGKILL', stdout: 'partial', stderr: '', truncated: false, usage: null, durationMs: 10000 } }));
    expect(slow.compile_output).toBe('Compilation time limit exceeded.');
  });

  it('reports the first run that is not accepted, averaging time and memory over the runs made', () => {
    const a = answer(
      result({
        tests: [
          test1({ cpuTimeMs: 10, maxRssKb: 1000, stdout: 'a' }),
          test1({ verdict: 'wrong_answer', cpuTimeMs: 20, maxRssKb: 2001, stdout: 'b' }),
          test1({ verdict: 'time_limit', cpuTimeMs: 5000, maxRssKb: 9000, stdout: 'c' }),
        ],
      }),
    );
    expect(a).toMatchObject({ status: { id: 4 }, stdout: 'b', time: '0.015', memory: 1501 });
  });

  it('answers Internal Error when the sandbox failed', () => {
    expect(answer(result({ status: 'sandbox_error', exitCode: null, tests: [] })).status).toEqual({ id: 13, description: 'Internal Error' });
  });

  it('answers Internal Error when the sandbox stopped before every run was made and those made were accepted', () => {
    const three: Judge0Submission = { source_code: 'x', language_id: 71, number_of_runs: 3 };
    expect(answer(result({ status: 'timeout', tests: [test1({}), test1({})] }), false, three).status?.id).toBe(13);
    // One not accepted among those made is the answer, as when every run was made.
    expect(answer(result({ status: 'timeout', tests: [test1({ verdict: 'wrong_answer' })] }), false, three).status?.id).toBe(4);
  });

  it('encodes stdout, stderr, compile_output and message with base64_encoded=true', () => {
    const a = answer(result({ tests: [test1({ verdict: 'runtime_error', exitCode: 2, stdout: 'hello, Judge0\n', stderr: 'é' })] }), true);
    expect(a.stdout).toBe('aGVsbG8sIEp1ZGdlMAo=');
    expect(Buffer.from(a.stderr!, 'base64').toString('utf8')).toBe('é');
    expect(Buffer.from(a.message!, 'base64').toString('utf8')).toBe('Exited with error status 2');
    expect(a.compile_output).toBeNull();
  });
});

describe('fields', () => {
  it("reads Judge0's fields= (a list, or * for all) and refuses unknown names", () => {
    expect(parseFields('stdout, status')).toEqual(['stdout', 'status']);
    expect(parseFields('*')).toBe(ALL_FIELDS);
    expect(parseFields('')).toEqual(['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status']);
    expect(codeOf(() => parseFields('stdout,secret,id')).fields).toEqual([{ path: '/fields', message: 'invalid fields: [secret, id]' }]);
  });

  it('keeps only what is asked', () => {
    const a = answer(result({ tests: [test1({ stdout: 'x' })] }));
    expect(pickFields(a, ['stdout', 'exit_code'])).toEqual({ stdout: 'x', exit_code: 0 });
    expect(Object.keys(pickFields(a, ALL_FIELDS)).sort()).toEqual([...ALL_FIELDS].sort());
  });

  it('is an error of the request, not a service failure', () => {
    const e = codeOf(() => parseFields('nope'));
    expect(e.code).toBe('VALIDATION_FAILED');
    expect(new KataExecError(ErrorCode.NotSupported, 'x').code).toBe('NOT_SUPPORTED');
  });
});
