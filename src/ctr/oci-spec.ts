/**
 * Pure builder of the OCI runtime spec that `ctr run --config` takes: every limit and
 * every security setting of a sandbox is here, in one JSON document. Unit-tested by
 * shape; the integration and hostile suites prove the kernel really enforces it.
 */

export interface OciSeccomp {
  defaultAction: string;
  architectures?: string[];
  syscalls?: { names: string[]; action: string; args?: unknown[]; errnoRet?: number }[];
  [k: string]: unknown;
}

export interface OciSpecInput {
  /** Absolute path of the read-only rootfs on the host. */
  rootfsPath: string;
  readOnlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  /** The init process's capabilities (bounding, effective, permitted); none but the launcher's. */
  capabilities: string[];
  hostname: string;
  cgroupsPath: string;
  memoryBytes: number;
  cpuQuota: number;
  cpuPeriod: number;
  pids: number;
  /** RLIMIT_NPROC; only where it is per sandbox (a guest kernel or gVisor's), never on runc. */
  nproc: number;
  tmpfsBytes: number;
  openFiles: number;
  network: 'none' | 'host';
  seccomp: OciSeccomp | null;
  annotations: Record<string, string>;
}

/**
 * The program's working directory: a tmpfs as large as the disk limit (like /tmp), where
 * the launcher writes its files and the program may write its own.
 */
export const CODE_DIR_IN_SANDBOX = '/code';

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function buildOciSpec(i: OciSpecInput): Record<string, unknown> {
  const namespaces: { type: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (i.network === 'none') namespaces.push({ type: 'network' });

  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: 'rwm' }],
  };
  // swap == limit: no swap on top of the memory limit.
  if (i.memoryBytes > 0) resources.memory = { limit: i.memoryBytes, swap: i.memoryBytes };
  if (i.cpuQuota > 0) resources.cpu = { quota: i.cpuQuota, period: i.cpuPeriod };
  if (i.pids > 0) resources.pids = { limit: i.pids };

  const tmpOptions = ['nosuid', 'nodev', 'mode=1777'];
  if (i.tmpfsBytes > 0) tmpOptions.push(`size=${i.tmpfsBytes}`);

  const rlimits = [{ type: 'RLIMIT_CORE', hard: 0, soft: 0 }];
  if (i.openFiles > 0) rlimits.push({ type: 'RLIMIT_NOFILE', hard: i.openFiles, soft: i.openFiles });
  if (i.nproc > 0) rlimits.push({ type: 'RLIMIT_NPROC', hard: i.nproc, soft: i.nproc });

  const spec: Record<string, unknown> = {
    ociVersion: '1.0.2-dev',
    hostname: i.hostname,
    process: {
      terminal: false,
      user: { uid: i.uid, gid: i.gid, additionalGids: [i.gid] },
      args: i.args,
      env: i.env,
      cwd: i.cwd,
      // No capability but the launcher's own (sandbox/ctr-spec.ts), which the program never
      // gets: it runs as an unprivileged user, or as root without any (dev).
      capabilities: { bounding: i.capabilities, effective: i.capabilities, permitted: i.capabilities, inheritable: [], ambient: [] },
      rlimits,
      noNewPrivileges: true,
    },
    root: { path: i.rootfsPath, readonly: i.readOnlyRootfs },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=1m'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: tmpOptions },
      { destination: CODE_DIR_IN_SANDBOX, type: 'tmpfs', source: 'tmpfs', options: tmpOptions },
    ],
    annotations: i.annotations,
    linux: {
      cgroupsPath: i.cgroupsPath,
      resources,
      namespaces,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      ...(i.seccomp ? { seccomp: i.seccomp } : {}),
    },
  };
  return spec;
}
