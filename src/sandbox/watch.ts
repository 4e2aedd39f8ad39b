/**
 * Runs one program through its sandbox's launcher and watches it. Each reason to stop a
 * sandbox has its own file: the deadline (deadline.ts), the caller going away (abort.ts),
 * runaway output (output-cap.ts); each kills through kill.ts. Output comes in the
 * launcher's frames (launch-protocol.ts) into bounded captures (capture.ts); a death by a
 * signal nobody sent asks oom.ts, and a sandbox that ended with no end frame asks
 * pids-limit.ts whether its pids cgroup ended it.
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
import { encodeRequest, parseEnd, parseStepBegin, parseStepEnd, type EndOfRun, type EndOfStep } from './launch-protocol.js';
import { oomKilledSteps, wasOomKilled, type OomEvents } from './oom.js';
import { OutputCapWatch, outputKillThreshold } from './output-cap.js';
import { endedAtPidsLimit, PIDS_REPORT_WAIT_MS, type PidsEvidence, type PidsReports, type PidsWatch } from './pids-limit.js';
import type { LauncherSession } from './session.js';
import type { Logger, RunOptions, SandboxResult, SandboxSpec, StepResult } from './types.js';

/** One step as the watcher saw it: its captures, when it began, its end frame once it came. */
interface WatchedStep {
  stdout: CappedCapture;
  stderr: CappedCapture;
  startedAt: number;
  tStart: number;
  end: EndOfStep | null;
}

export interface Watched {
  result: SandboxResult;
  /** A kill was sent, or the end of the program was not seen: ctr's own delete cannot be trusted. */
  needsForceDelete: boolean;
}

export interface WatchDeps {
  ctr: CtrClient;
  runtime: RuntimeKind;
  events: OomEvents | null;
  /** The host's count of forks refused in a sandbox's pids cgroup; absent: never asked. */
  pids?: PidsReports | null;
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
  run: {
    nonce: string;
    sandboxId: string;
    into: 'cold' | 'warm';
    kill?: () => Promise<void>;
    keepOpen?: boolean;
    /** The forks the sandbox's pids cgroup refused before this run (a session's earlier calls). */
    pidsBaseline?: number;
  },
  opts: RunOptions,
  log: Logger,
  t0: number,
): Promise<Watched> {
  let tStart = 0;
  let tEnd = 0;
  let started = false;
  let end: EndOfRun | null = null;
  let forged: string | null = null;
  let pidsWatch: PidsWatch | null = null;
  const stdout = new CappedCapture(spec.resources.outputBytes);
  const stderr = new CappedCapture(spec.resources.outputBytes);
  // With steps: each step's own captures; the launcher kills a step far past its cap, and
  // the sandbox is killed only past twice that (a launcher that did not).
  const steps: WatchedStep[] = [];
  const current = () => {
    const s = steps[steps.length - 1];
    return s && s.end === null ? s : null;
  };

  // A session's call is killed through its launcher, which outlives it (session-runner.ts).
  const killer = new SandboxKiller(run.kill ?? (() => d.ctr.killTask(run.sandboxId)), () => session.endClient(), log);
  const outputCap = new OutputCapWatch(spec.resources.outputBytes, [stdout, stderr], () => killer.kill('output far past its cap'));
  let stepCap = null as OutputCapWatch | null;
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
          // From now on the program runs: the host counts what its pids cgroup refuses.
          if (spec.resources.pids > 0) pidsWatch = d.pids?.watch(run.sandboxId, run.pidsBaseline ?? 0) ?? null;
          return;
        case 'O':
        case 'E': {
          if (spec.steps) {
            const step = current();
            if (!step) return distrust('output outside of a step');
            (f.type === 'O' ? step.stdout : step.stderr).write(f.payload);
            opts.onOutput?.(f.type === 'O' ? 'stdout' : 'stderr', f.payload, steps.length - 1);
            stepCap?.check();
            return;
          }
          const into = f.type === 'O' ? stdout : stderr;
          into.write(f.payload);
          opts.onOutput?.(f.type === 'O' ? 'stdout' : 'stderr', f.payload);
          outputCap.check();
          return;
        }
        case 'B': {
          const i = parseStepBegin(f.payload);
          const def = spec.steps?.[steps.length];
          if (!started || !def || i !== steps.length || (steps.length > 0 && current())) return distrust('a step that is not the next one');
          const step: WatchedStep = {
            stdout: new CappedCapture(def.outputBytes),
            stderr: new CappedCapture(def.outputBytes),
            startedAt: Date.now(),
            tStart: performance.now(),
            end: null,
          };
          steps.push(step);
          stepCap = new OutputCapWatch(def.outputBytes, [step.stdout, step.stderr], () => killer.kill("a step's output far past its cap"), 2 * outputKillThreshold(def.outputBytes));
          return;
        }
        case 'D': {
          const e = parseStepEnd(f.payload);
          const step = current();
          if (!e || !step || e.index !== steps.length - 1) return distrust('the end of a step that is not the current one');
          step.end = e;
          return;
        }
        case 'X':
          end = parseEnd(f.payload, run.nonce);
          if (!end) return distrust("an end frame that is not this run's");
          if (spec.steps && (steps.length === 0 || current())) {
            end = null;
            return distrust('an end frame with a step unfinished');
          }
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
  session.send(encodeRequest(spec, run.nonce, { memoryGuardKb: stepMemoryGuardKb(d.runtime, spec.resources.memoryBytes) }));

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
  // Asked at once, answered below (beside the OOM question): did its pids cgroup end it?
  const stoppedByUs = killer.requested || deadline.expired || abort.aborted || broken !== null;
  const pidsEvidence = pidsEnd(pidsWatch, { started, endSeen, stoppedByUs });

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
  const pidsLimit = async (oomKilled: boolean) => {
    // An OOM kill explains the end by itself; refused forks are then a detail.
    if (oomKilled) return false;
    const evidence = await pidsEvidence;
    const hit = endedAtPidsLimit({ started, endSeen, stoppedByUs, evidence });
    if (hit) {
      log.warn(
        { pidsLimit: spec.resources.pids, refusedForks: evidence!.refusedForks, kernelReport: evidence!.kernelReport },
        "the sandbox ended at its pids cgroup (the host's backstop of the pids limit): answered as the program's pids limit",
      );
    }
    return hit;
  };
  if (spec.steps) return stepsResult(d, run.sandboxId, steps, { endSeen, end, killer, deadline, outputCap: stepCap?.hit ?? false, started, t0, tStart, tEnd, tDone, pidsLimit });
  const oomKilled = endSeen
    ? await wasOomKilled(d.events, run.sandboxId, { started, exitCode, killRequested: killer.requested })
    : await wasOomKilled(d.events, run.sandboxId, { started, exitCode: killer.requested ? null : 137, killRequested: killer.requested });
  const pidsLimitHit = await pidsLimit(oomKilled);
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
      ...(pidsLimitHit ? { pidsLimitHit } : {}),
      usage: endSeen ? end!.usage : null,
      timing: {
        setupMs: ms(t0, tStart || tDone),
        runMs: tStart ? ms(tStart, tEnd || tDone) : 0,
      },
    },
  };
}

const SIGKILL = 9;

/**
 * The launcher's memory guard for steps, in KiB (0: none). Under gVisor the sandbox's OOM
 * kill is the host's, and the host sees one process, the Sentry: the whole sandbox would
 * die with the step. There the Sentry's /proc/meminfo counts against the sandbox's limit
 * (MemTotal is the limit; measured: the host's kill came at MemAvailable ~7 MiB of 128 and
 * of 256 MiB), so the launcher ends the step itself when MemAvailable falls below an eighth
 * of the limit (16 to 64 MiB). runc and Kata need none: there the kernel that kills is the
 * sandbox's (the cgroup's OOM killer, the VM's), and it takes the step (oom_score_adj 1000).
 */
export function stepMemoryGuardKb(runtime: RuntimeKind, memoryBytes: number): number {
  if (runtime !== 'gvisor' || memoryBytes <= 0) return 0;
  const kb = Math.floor(memoryBytes / 1024);
  return Math.min(64 * 1024, Math.max(16 * 1024, Math.floor(kb / 8)));
}

/**
 * The result of a run with steps: each step that began, in order; the top-level status,
 * output and usage are the last one's. A step that a SIGKILL of nobody's ended is asked
 * about the OOM killer (oom.ts). A sandbox killed as a whole (the deadline, the caller, a
 * launcher that broke) leaves its current step without an end: exit unknown, no usage; a
 * sandbox the OOM killer ended leaves it so too, with the limit 'oom'. So
 * does a session's call that the service ended (its launcher killed the step, and framed
 * its end): the step was ended by the same deadline, cap or caller, not by itself.
 */
async function stepsResult(
  d: WatchDeps,
  sandboxId: string,
  steps: WatchedStep[],
  w: {
    endSeen: boolean;
    end: EndOfRun | null;
    killer: SandboxKiller;
    deadline: { expired: boolean };
    outputCap: boolean;
    started: boolean;
    t0: number;
    tStart: number;
    tEnd: number;
    tDone: number;
    /** Whether the sandbox's pids cgroup ended it (asked once the OOM question is answered). */
    pidsLimit: (oomKilled: boolean) => Promise<boolean>;
  },
): Promise<Watched> {
  const last = steps.length - 1;
  const endedByUs = (s: WatchedStep, i: number) => w.killer.requested && i === last && s.end !== null && s.end.limit === null && s.end.signal === SIGKILL;
  for (const [i, s] of steps.entries()) if (endedByUs(s, i)) s.end = null;
  const killed = steps.flatMap((s, index) => (s.end && s.end.limit === null && s.end.signal === SIGKILL ? [{ index, startedAt: s.startedAt }] : []));
  const oom = await oomKilledSteps(d.events, sandboxId, killed);
  // The sandbox as a whole: ended by the OOM killer when its end was not seen and nothing of ours killed it.
  const sandboxOom = !w.endSeen && (await wasOomKilled(d.events, sandboxId, { started: w.started, exitCode: w.killer.requested ? null : 137, killRequested: w.killer.requested }));
  // Then the step it was in is the OOM killer's too, its end otherwise unknown: under gVisor
  // the host's OOM killer may end the whole Sentry (the step's program and the launcher with it)
  // before the launcher's memory guard has ended the step alone.
  const endedWithSandbox = (s: WatchedStep, i: number) => sandboxOom && s.end === null && i === last;
  const results: StepResult[] = steps.map((s, i) => ({
    exitCode: s.end ? s.end.exitCode : null,
    signal: s.end && s.end.signal !== null ? signalFromExitStatus(s.end.exitCode) : null,
    stdout: s.stdout.result(),
    stderr: s.stderr.result(),
    limit: s.end ? (oom.has(i) ? 'oom' : s.end.limit) : endedWithSandbox(s, i) ? 'oom' : null,
    wallMs: s.end ? s.end.wallMs : ms(s.tStart, w.tDone),
    usage: s.end ? s.end.usage : { cpuUserMs: 0, cpuSysMs: 0, maxRssKb: 0 },
  }));
  const lastResult = results[results.length - 1];
  const pidsLimitHit = await w.pidsLimit(sandboxOom);
  const empty = { data: Buffer.alloc(0), totalBytes: 0, droppedBytes: 0 };
  return {
    needsForceDelete: !w.endSeen || w.killer.requested,
    result: {
      exitCode: w.endSeen ? w.end!.exitCode : null,
      signal: w.endSeen && w.end!.signal !== null ? signalFromExitStatus(w.end!.exitCode) : null,
      stdout: lastResult?.stdout ?? empty,
      stderr: lastResult?.stderr ?? empty,
      timedOut: w.deadline.expired,
      oomKilled: w.endSeen ? lastResult?.limit === 'oom' : sandboxOom,
      outputLimitHit: w.outputCap,
      ...(pidsLimitHit ? { pidsLimitHit } : {}),
      usage: w.endSeen ? w.end!.usage : null,
      timing: { setupMs: ms(w.t0, w.tStart || w.tDone), runMs: w.tStart ? ms(w.tStart, w.tEnd || w.tDone) : 0 },
      steps: results,
    },
  };
}

/**
 * What the host counted of the sandbox's pids cgroup, when its end is to be explained: a
 * program that started, no end frame, nothing of ours that stopped it. Otherwise the watch
 * just stops (null).
 */
function pidsEnd(w: PidsWatch | null, o: { started: boolean; endSeen: boolean; stoppedByUs: boolean }): Promise<PidsEvidence | null> {
  if (!w) return Promise.resolve(null);
  if (!o.started || o.endSeen || o.stoppedByUs) {
    w.stop();
    return Promise.resolve(null);
  }
  return w.finish(PIDS_REPORT_WAIT_MS);
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
