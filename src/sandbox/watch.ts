/**
 * Runs one ctr client to its end and watches it. Each reason to stop a sandbox has its own
 * file: the deadline (deadline.ts), the caller going away (abort.ts), runaway output
 * (output-cap.ts); each kills through kill.ts. Output goes into bounded captures
 * (capture.ts) behind the start marker (marker.ts); an unexplained death asks oom.ts.
 */
import { performance } from 'node:perf_hooks';
import type { CtrClient } from '../ctr/client.js';
import { spawnStreaming } from '../ctr/exec.js';
import { classifyCtrError, lastCtrLine, signalFromExitStatus } from '../ctr/parse.js';
import type { RuntimeKind } from '../schemas/common.js';
import { DaemonUnavailableError, KataNotAvailableError, LostOutputError, VmAgentUnreachableError, VmCreationFailedError, VmExecutionFailedError } from '../errors.js';
import { watchAbort } from './abort.js';
import { CappedCapture } from './capture.js';
import { startDeadline } from './deadline.js';
import { SandboxKiller } from './kill.js';
import { MarkerGate } from './marker.js';
import { wasOomKilled, type OomEvents } from './oom.js';
import { OutputCapWatch } from './output-cap.js';
import type { Logger, RunOptions, SandboxResult, SandboxSpec } from './types.js';

export interface Watched {
  result: SandboxResult;
  needsForceDelete: boolean;
  /** When the program ended (its streams closed). */
  tEnd: number;
}

export interface WatchDeps {
  ctr: CtrClient;
  ctrPath: string;
  runtime: RuntimeKind;
  events: OomEvents | null;
}

export const ms = (a: number, b: number) => Math.max(0, Math.round((b - a) * 10) / 10);

/**
 * `sandboxId` is the task to kill and to ask about OOM (the warm sandbox's own id on the
 * warm path). `into`: `cold` when ctr creates the sandbox, `warm` when it execs into one
 * that already runs, which decides what a failure before the marker means.
 */
export async function watchSandbox(
  d: WatchDeps,
  spec: SandboxSpec,
  run: { argv: string[]; nonce: string; sandboxId: string; into: 'cold' | 'warm' },
  opts: RunOptions,
  log: Logger,
  t0: number,
): Promise<Watched> {
  let tStart = 0;
  let tStreamsEnd = 0;
  const stdout = new CappedCapture(spec.resources.outputBytes);
  const stderr = new CappedCapture(spec.resources.outputBytes);

  // The program's stdin is a file in the sandbox (see writeStdin), never ctr's.
  const proc = spawnStreaming(d.ctrPath, run.argv);
  log.debug({ argv: run.argv }, 'ctr');

  const killer = new SandboxKiller(() => d.ctr.killTask(run.sandboxId), () => proc.kill('SIGKILL'), log);
  const outputCap = new OutputCapWatch(spec.resources.outputBytes, [stdout, stderr], () => killer.kill('output far past its cap'));
  const gate = new MarkerGate(
    run.nonce,
    () => {
      tStart = performance.now();
    },
    (c) => {
      stdout.write(c);
      opts.onOutput?.('stdout', c);
      outputCap.check();
    },
  );
  const streamEnd = (st: NodeJS.ReadableStream) =>
    new Promise<void>((resolve) => {
      st.once('end', resolve);
      st.once('close', resolve);
      st.once('error', () => resolve());
    });
  proc.stdout.on('data', (c: Buffer) => gate.write(c));
  proc.stderr.on('data', (c: Buffer) => {
    stderr.write(c);
    opts.onOutput?.('stderr', c);
    outputCap.check();
  });
  const streamsDone = Promise.all([streamEnd(proc.stdout), streamEnd(proc.stderr)]).then(() => {
    tStreamsEnd = performance.now();
  });

  const deadline = startDeadline(spec.timeoutMs, () => killer.kill('timeout'));
  const abort = watchAbort(opts.signal, () => killer.kill('aborted by the caller'));
  // containerd gone mid-run: answer at once rather than when the program ends. The ctr
  // client is ended (the sandbox lives on in its shim, and is swept once containerd is back).
  let daemonLost = false;
  const stopWatchingDaemon = d.events?.onStreamLost?.(() => {
    void d.ctr.version().then(
      () => undefined,
      () => {
        if (daemonLost) return;
        daemonLost = true;
        log.warn('containerd went away while the program ran');
        proc.kill('SIGKILL');
      },
    );
  });

  const exit = await proc.done;
  stopWatchingDaemon?.();
  await streamsDone;
  gate.end();
  const tDone = performance.now();
  deadline.clear();
  killer.stop();
  abort.dispose();

  if (exit.spawnError) throw new VmCreationFailedError('the ctr client could not be started', { cause: exit.spawnError });
  if (daemonLost) throw new DaemonUnavailableError('containerd went away while the program ran');
  const errOut = stderr.result();
  // Before the start marker nothing of the request has run (its env is the program's
  // only), so stderr holds ctr's and the runtime's own words, read for the cause. After
  // it the stream is the program's, and nothing in it is read: ctr's failures there
  // (lost containerd, a failed delete) end with exit status 1, which is a program's too,
  // so that status alone costs a look at containerd, never a look at the text.
  const ctrMayHaveFailed = exit.exitCode === 1;
  // ctr deleted what it made itself unless it failed, was ended or a kill was sent.
  const needsForceDelete = exit.exitCode === null || ctrMayHaveFailed || killer.requested;

  if (!gate.seen && !deadline.expired && !abort.aborted) {
    throw startError(d.runtime, run.into, errOut.data.toString('utf8'), exit.exitCode);
  }
  if (gate.seen && ctrMayHaveFailed && !killer.requested) {
    const reachable = await d.ctr.version().then(
      () => true,
      () => false,
    );
    if (!reachable) throw new DaemonUnavailableError('containerd went away while the program ran');
  }

  const exitCode = exit.exitCode;
  const oomKilled = await wasOomKilled(d.events, run.sandboxId, { started: gate.seen, exitCode, killRequested: killer.requested });
  const tEnd = tStreamsEnd || tDone;
  return {
    needsForceDelete,
    tEnd,
    result: {
      exitCode: !gate.seen ? null : exitCode,
      signal: signalFromExitStatus(exitCode),
      stdout: stdout.result(),
      stderr: errOut,
      timedOut: deadline.expired,
      oomKilled,
      outputLimitHit: outputCap.hit,
      timing: {
        setupMs: ms(t0, tStart || tDone),
        runMs: tStart ? ms(tStart, tEnd) : 0,
        teardownMs: 0,
      },
    },
  };
}

/** ctr ended before the start marker: the sandbox (cold) or the exec into it (warm) failed. */
export function startError(runtime: RuntimeKind, into: 'cold' | 'warm', stderr: string, exitCode: number | null): Error {
  const line = lastCtrLine(stderr);
  const kind = classifyCtrError(line ?? stderr);
  const cause = line ?? `ctr exited ${exitCode} without starting the program; its stderr ended: ${JSON.stringify(stderr.slice(-400))}`;
  if (line === null && exitCode === 0) return new LostOutputError(cause);
  if (kind === 'vm_agent_unreachable' && into === 'cold') return new VmAgentUnreachableError(cause);
  if (kind === 'daemon_unavailable') return new DaemonUnavailableError(undefined, { cause });
  if (into === 'warm') return new VmExecutionFailedError('the program could not be started in the pooled sandbox', { cause });
  if (kind === 'runtime_not_installed') {
    if (runtime === 'kata') return new KataNotAvailableError('the Kata shim is not installed where containerd looks for it', { cause });
    return new VmCreationFailedError(`the ${runtime} runtime is not installed where containerd looks for it`, { cause });
  }
  return new VmCreationFailedError(undefined, { cause });
}
