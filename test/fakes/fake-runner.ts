/**
 * FakeSandboxRunner: a SandboxRunner for tests that never touches containerd.
 *
 * - records every spec (and its options) it receives, in call order;
 * - answers with scripted results: one per call (`next`), else a default (`always`), each
 *   a plain description, a ready SandboxResult, an Error to throw, or a function of the spec;
 * - can hold calls until released (`hold`), to saturate the queue without sleeping;
 * - honours opts.signal: an aborted call resolves as a program killed by SIGKILL.
 */
import type { CapturedStream, RunOptions, SandboxResult, SandboxSpec, StepResult, WarmSandbox, WarmSandboxRunner } from '../../src/sandbox/types.js';
import { deferred, type Deferred } from '../helpers/wait.js';
import { WarmSandboxLostError } from '../../src/errors.js';

export { deferred, type Deferred };

/** A stream as the runner captured it. `droppedBytes` > 0 means the middle was cut out. */
export function captured(data: string | Buffer, droppedBytes = 0): CapturedStream {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return { data: buf, totalBytes: buf.length + droppedBytes, droppedBytes };
}

/** A short description of a result; everything omitted is a clean exit 0 with no output. */
export interface ResultInit {
  exitCode?: number | null;
  signal?: string | null;
  stdout?: string | Buffer | CapturedStream;
  stderr?: string | Buffer | CapturedStream;
  timedOut?: boolean;
  oomKilled?: boolean;
  outputLimitHit?: boolean;
  pidsLimitHit?: boolean;
  usage?: SandboxResult['usage'];
  timing?: Partial<SandboxResult['timing']>;
  /** With spec.steps: what each step did (the top level is then the last one's). */
  steps?: SandboxResult['steps'];
}

function toStream(s: string | Buffer | CapturedStream | undefined): CapturedStream {
  if (s === undefined) return captured('');
  if (typeof s === 'string' || Buffer.isBuffer(s)) return captured(s);
  return s;
}

export function sandboxResult(init: ResultInit = {}): SandboxResult {
  return {
    exitCode: init.exitCode === undefined ? 0 : init.exitCode,
    signal: init.signal ?? null,
    stdout: toStream(init.stdout),
    stderr: toStream(init.stderr),
    timedOut: init.timedOut ?? false,
    oomKilled: init.oomKilled ?? false,
    outputLimitHit: init.outputLimitHit ?? false,
    ...(init.pidsLimitHit ? { pidsLimitHit: true } : {}),
    usage: init.usage === undefined ? { cpuUserMs: 21, cpuSysMs: 4, maxRssKb: 9000 } : init.usage,
    timing: { setupMs: 12, runMs: 34, ...init.timing },
    ...(init.steps ? { steps: init.steps } : {}),
  };
}

/** What a killed sandbox reports: SIGKILL, exit 137, nothing printed. */
export function killedResult(): SandboxResult {
  return sandboxResult({ exitCode: 137, signal: 'SIGKILL', usage: null, timing: { runMs: 0, setupMs: 0 } });
}

/** A step's end, as the launcher reports it; omitted: exit 0, nothing printed, small usage. */
export function stepResult(o: Partial<Omit<StepResult, 'stdout' | 'stderr'>> & { stdout?: string | CapturedStream; stderr?: string } = {}): StepResult {
  const { stdout, stderr, ...rest } = o;
  return {
    exitCode: 0,
    signal: null,
    limit: null,
    wallMs: 15,
    usage: { cpuUserMs: 8, cpuSysMs: 2, maxRssKb: 9000 },
    ...rest,
    stdout: typeof stdout === 'object' ? stdout : captured(stdout ?? ''),
    stderr: captured(stderr ?? ''),
  };
}

/** A SandboxResult of these steps; the top level is the last step's, as the runner makes it. */
export function ranSteps(steps: StepResult[], over: Partial<SandboxResult> = {}): SandboxResult {
  const last = steps.at(-1);
  return {
    ...sandboxResult({ exitCode: last?.exitCode ?? null, signal: last?.signal ?? null, usage: last?.usage ?? null }),
    stdout: last?.stdout ?? captured(''),
    stderr: last?.stderr ?? captured(''),
    steps,
    ...over,
  };
}

type Outcome = ResultInit | SandboxResult | Error;
export type Script = Outcome | ((spec: SandboxSpec, call: RunCall) => Outcome | Promise<Outcome>);

export interface RunCall {
  /** 0-based call number. */
  index: number;
  spec: SandboxSpec;
  opts: RunOptions;
  /** How the call ended, once it has. */
  outcome?: 'result' | 'threw' | 'aborted';
}

export interface Gate {
  /** Lets every held call (and every later one) go on. */
  release(): void;
  readonly released: boolean;
}

export class FakeSandboxRunner implements WarmSandboxRunner {
  readonly calls: RunCall[] = [];
  /** The warm side: sandboxes made, the runs in them (by sandbox id), those destroyed. */
  readonly warm = { created: [] as WarmSandbox[], runs: [] as { sandbox: string; spec: SandboxSpec }[], destroyed: [] as string[] };
  /** The next createWarm calls that fail, one each. */
  private createFailures: Error[] = [];
  private readonly scripted: Script[] = [];
  private fallback: Script;
  private gate: Deferred<void> | null = null;
  private readonly callWaiters: { n: number; resolve: () => void }[] = [];

  /** `fallback` answers every call without a `next` entry; by default a clean exit 0. */
  constructor(fallback: Script = {}) {
    this.fallback = fallback;
  }

  get specs(): SandboxSpec[] {
    return this.calls.map((c) => c.spec);
  }

  get lastSpec(): SandboxSpec {
    const c = this.calls.at(-1);
    if (!c) throw new Error('the fake runner was never called');
    return c.spec;
  }

  /** Scripts the next calls, one entry each, in order. */
  next(...scripts: Script[]): this {
    this.scripted.push(...scripts);
    return this;
  }

  /** Scripts every call that has no `next` entry. */
  always(script: Script): this {
    this.fallback = script;
    return this;
  }

  /** The next call throws `err` (e.g. new VmCreationFailedError()). */
  throwNext(err: Error): this {
    return this.next(err);
  }

  /** Every call from now on waits, once recorded, until the gate is released or its signal aborts. */
  hold(): Gate {
    const d = deferred<void>();
    this.gate = d;
    let released = false;
    return {
      release: () => {
        released = true;
        if (this.gate === d) this.gate = null;
        d.resolve();
      },
      get released() {
        return released;
      },
    };
  }

  /** The next `n` createWarm calls fail with `err`. */
  failCreate(err: Error, n = 1): this {
    for (let i = 0; i < n; i++) this.createFailures.push(err);
    return this;
  }

  /** Warm sandboxes that died (alive() turns false): their VM or container is gone. */
  readonly dead = new Set<string>();
  /** The next `n` warm runs find their sandbox gone before the program starts. */
  private lostRuns = 0;

  loseWarmRuns(n = 1): this {
    this.lostRuns += n;
    return this;
  }

  /** How long each createWarm takes (timers: fake ones in the pool's tests); 0: at once. */
  createDelayMs = 0;
  /** createWarm calls begun, finished or not. */
  createsBegun = 0;

  async createWarm(template: SandboxSpec): Promise<WarmSandbox> {
    this.createsBegun++;
    if (this.createDelayMs > 0) await new Promise((r) => setTimeout(r, this.createDelayMs));
    const failure = this.createFailures.shift();
    if (failure) throw failure;
    const id = `warm-${this.warm.created.length}`;
    const w: WarmSandbox = { id, template, createdAt: Date.now(), createMs: 0, alive: () => !this.dead.has(id) };
    this.warm.created.push(w);
    return w;
  }

  /** A warm run answers like `run` (same scripts, same hold), then destroys the sandbox. */
  async runWarm(w: WarmSandbox, spec: SandboxSpec, opts: RunOptions = {}): Promise<{ result: SandboxResult; destroyed: Promise<void> }> {
    this.warm.runs.push({ sandbox: w.id, spec });
    if (this.lostRuns > 0) {
      this.lostRuns--;
      await this.destroyWarm(w);
      throw new WarmSandboxLostError('its ctr client ended');
    }
    try {
      return { result: await this.run(spec, opts), destroyed: this.destroyWarm(w) };
    } catch (err) {
      await this.destroyWarm(w);
      throw err;
    }
  }

  async destroyWarm(w: WarmSandbox): Promise<void> {
    this.warm.destroyed.push(w.id);
  }

  /** Resolves once the runner has received at least `n` calls. */
  waitForCalls(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.callWaiters.push({ n, resolve }));
  }

  async run(spec: SandboxSpec, opts: RunOptions = {}): Promise<SandboxResult> {
    const call: RunCall = { index: this.calls.length, spec, opts };
    this.calls.push(call);
    for (const w of this.callWaiters.filter((w) => this.calls.length >= w.n)) {
      this.callWaiters.splice(this.callWaiters.indexOf(w), 1);
      w.resolve();
    }
    const script = this.scripted.length > 0 ? this.scripted.shift()! : this.fallback;
    const { signal } = opts;

    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal?.aborted) resolve('aborted');
      else signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    const finish = (r: SandboxResult): SandboxResult => {
      call.outcome = 'result';
      return r;
    };
    const killed = (): SandboxResult => {
      call.outcome = 'aborted';
      return killedResult();
    };

    if (signal?.aborted) return killed();
    if (this.gate) {
      const gate = this.gate.promise.then(() => 'released' as const);
      if ((await Promise.race([gate, aborted])) === 'aborted') return killed();
    }

    const produce = async (): Promise<Outcome> => (typeof script === 'function' ? script(spec, call) : script);
    const outcome = await Promise.race([produce(), aborted]);
    if (outcome === 'aborted') return killed();
    if (outcome instanceof Error) {
      call.outcome = 'threw';
      throw outcome;
    }
    // A full SandboxResult is also a valid ResultInit: normalising keeps it as is.
    return finish(sandboxResult(outcome));
  }
}
