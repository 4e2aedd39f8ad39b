/**
 * Runs one program through its sandbox's launcher and watches it. Each reason to stop a
 * sandbox has its own file: the deadline (deadline.ts), the caller going away (abort.ts),
 * runaway output (output-cap.ts); each kills through kill.ts. Output comes in the
 * launcher's frames (launch-protocol.ts) into bounded captures (capture.ts); a death by a
 * signal nobody sent asks oom.ts.
 *
 * The result is ready at the launcher's end frame, when the program ended: the sandbox's
 * deletion is not waited for (the runner does it after the answer).
 */
import { performance } from 'node:perf_hooks';
import type { CtrClient } from '../ctr/client.js';
import { classifyCtrError, lastCtrLine, signalFromExitStatus } from '../ctr/parse.js';
import type { RuntimeKind } from '../schemas/common.js';
import {
  DaemonUnavailableError,
  KataNotAvailableError,
  LostOutputError,
  VmAgentUnreachableError,
  VmCreationFailedError,
  VmExecutionFailedError,
  WarmSandboxLostError,
} from '../errors.js';
import { watchAbort } from './abort.js';
import { CappedCapture } from './capture.js';
import { startDeadline } from './deadline.js';
import { SandboxKiller } from './kill.js';
import { encodeRequest, parseEnd, type EndOfRun } from './launch-protocol.js';
import { wasOomKilled, type OomEvents } from './oom.js';
import { OutputCapWatch } from './output-cap.js';
import type { LauncherSession } from './session.js';
import type { Logger, RunOptions, SandboxResult, SandboxSpec } from './types.js';

export interface Watched {
  result: SandboxResult;
  /** A kill was sent, or the end of the program was not seen: ctr's own delete cannot be trusted. */
  needsForceDelete: boolean;
}

export interface WatchDeps {
  ctr: CtrClient;
  runtime: RuntimeKind;
  events: OomEvents | null;
}

export const ms = (a: number, b: number) => Math.max(0, Math.round((b - a) * 10) / 10);

/**
 * `sandboxId` is the task to kill and to ask about OOM (the warm sandbox's own id on the
 * warm path). `into`: `cold` when this ctr run creates the sandbox, `warm` when it was
 * created ahead, which decides what a failure before the program started means.
 */
export async function watchSandbox(
  d: WatchDeps,
  session: LauncherSession,
  spec: SandboxSpec,
  run: { nonce: string; sandboxId: string; into: 'cold' | 'warm'; kill?: () => Promise<void>; keepOpen?: boolean },
  opts: RunOptions,
  log: Logger,
  t0: number,
): Promise<Watched> {
  let tStart = 0;
  let tEnd = 0;
  let started = false;
  let end: EndOfRun | null = null;
  let forged: string | null = null;
  const stdout = new CappedCapture(spec.resources.outputBytes);
  const stderr = new CappedCapture(spec.resources.outputBytes);

  // A session's call is killed through its launcher, which outlives it (session-runner.ts).
  const killer = new SandboxKiller(run.kill ?? (() => d.ctr.killTask(run.sandboxId)), () => session.endClient(), log);
  const outputCap = new OutputCapWatch(spec.resources.outputBytes, [stdout, stderr], () => killer.kill('output far past its cap'));
  let onEnd: () => void = () => undefined;
  const ended = new Promise<void>((r) => (onEnd = r));
  // Bytes that are not the launcher's frames for this run (a program that reached its
  // stdout: gVisor opens /proc/1/fd/1): nothing after them is believed, and the sandbox is
  // killed; the run is a sandbox_error.
  const distrust = (why: string) => {
    forged ??= why;
    killer.kill(`the launcher stream cannot be believed: ${why}`);
  };
  session.listen(
    (f) => {
      if (end || forged) return;
      switch (f.type) {
        case 'S':
          if (started || f.payload.toString('latin1') !== run.nonce) return distrust("a start frame that is not this run's");
          started = true;
          tStart = performance.now();
          return;
        case 'O':
        case 'E': {
          const into = f.type === 'O' ? stdout : stderr;
          into.write(f.payload);
          opts.onOutput?.(f.type === 'O' ? 'stdout' : 'stderr', f.payload);
          outputCap.check();
          return;
        }
        case 'X':
          end = parseEnd(f.payload, run.nonce);
          if (!end) return distrust("an end frame that is not this run's");
          tEnd = performance.now();
          // A session's launcher lives on for the next call: its input stays open.
          if (!run.keepOpen) session.acknowledge();
          onEnd();
          return;
        default:
          distrust(`an unexpected frame ${f.type}`);
      }
    },
    (why) => distrust(why),
  );
  session.send(encodeRequest(spec, run.nonce));

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
        session.endClient();
      },
    );
  });

  const exit = await Promise.race([ended.then(() => null), session.exit]);
  const tDone = performance.now();
  stopWatchingDaemon?.();
  deadline.clear();
  killer.stop();
  abort.dispose();
  const broken = forged ?? session.broken;
  if (broken) log.error({ broken }, 'the launcher stream broke: no status from it is believed');
  const endSeen = end !== null && broken === null;
  if (!endSeen && started && !killer.requested) {
    log.warn({ exitCode: exit?.exitCode ?? null, signal: exit?.signal ?? null, stderr: session.stderr.slice(-600) }, 'the launcher ended without its end frame');
  }

  if (exit?.spawnError) throw new VmCreationFailedError('the ctr client could not be started', { cause: exit.spawnError });
  // ctr ended with no end frame, and nothing of ours stopped it: is containerd still there?
  // Asked of containerd itself, never read from the sandbox's stderr, so that no program can
  // make the service blame containerd. (Before the program started, ctr's own words about a
  // daemon that went away vary with the moment: creating the task, starting it, waiting.)
  const unexplained = !endSeen && !killer.requested && !deadline.expired && !abort.aborted;
  if (daemonLost || (unexplained && !(await reachable(d.ctr)))) throw new DaemonUnavailableError('containerd went away while the program ran');
  if (!started && !deadline.expired && !abort.aborted) {
    // Nothing of the request ran: stderr holds ctr's and the runtime's own words.
    if (run.into === 'warm') throw new WarmSandboxLostError(`ctr exited ${exit?.exitCode ?? '?'}: ${session.stderr.slice(-400)}`);
    throw startError(d.runtime, 'cold', session.stderr, exit?.exitCode ?? null);
  }
  // The end frame's status; without it the program's end is unknown (null): the launcher
  // was killed (the deadline, the output cap) or died, which is never a made-up exit 0.
  const exitCode = endSeen ? end!.exitCode : null;
  const oomKilled = endSeen
    ? await wasOomKilled(d.events, run.sandboxId, { started, exitCode, killRequested: killer.requested })
    : await wasOomKilled(d.events, run.sandboxId, { started, exitCode: killer.requested ? null : 137, killRequested: killer.requested });
  return {
    needsForceDelete: !endSeen || killer.requested,
    result: {
      exitCode,
      signal: endSeen && end!.signal !== null ? signalFromExitStatus(exitCode) : null,
      stdout: stdout.result(),
      stderr: stderr.result(),
      timedOut: deadline.expired,
      oomKilled,
      outputLimitHit: outputCap.hit,
      usage: endSeen ? end!.usage : null,
      timing: {
        setupMs: ms(t0, tStart || tDone),
        runMs: tStart ? ms(tStart, tEnd || tDone) : 0,
      },
    },
  };
}

function reachable(ctr: WatchDeps['ctr']): Promise<boolean> {
  return ctr.version().then(
    () => true,
    () => false,
  );
}

/** ctr ended before the program started: the sandbox (cold) or the pooled one (warm) failed. */
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
