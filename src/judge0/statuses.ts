/**
 * Judge0's submission statuses (GET /statuses), by id. Ids 1 and 2 (In Queue, Processing)
 * are never answered here: a submission is answered once it has run (wait=true).
 */
import { constants } from 'node:os';

export interface Judge0Status {
  id: number;
  description: string;
}

export const JUDGE0_STATUSES = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
] as const satisfies readonly Judge0Status[];

export const Status = {
  accepted: 3,
  wrongAnswer: 4,
  timeLimit: 5,
  compilationError: 6,
  sigsegv: 7,
  sigxfsz: 8,
  sigfpe: 9,
  sigabrt: 10,
  nzec: 11,
  otherRuntimeError: 12,
  internalError: 13,
} as const;

export function statusById(id: number): Judge0Status {
  const s = JUDGE0_STATUSES.find((x) => x.id === id);
  if (!s) throw new Error(`no Judge0 status ${id}`);
  return { id: s.id, description: s.description };
}

/** A signal's number (Linux): 'SIGSEGV' -> 11; null for a name that is not one. */
export function signalNumber(name: string | null): number | null {
  if (!name) return null;
  const n = (constants.signals as Record<string, number | undefined>)[name];
  return n ?? null;
}

/** Judge0's runtime-error status for a program ended by this signal (isolate's "SG"). */
export function statusOfSignal(name: string): number {
  switch (name) {
    case 'SIGSEGV':
      return Status.sigsegv;
    case 'SIGXFSZ':
      return Status.sigxfsz;
    case 'SIGFPE':
      return Status.sigfpe;
    case 'SIGABRT':
      return Status.sigabrt;
    default:
      return Status.otherRuntimeError;
  }
}
