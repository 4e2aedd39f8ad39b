import { Type, type Static } from 'typebox';
import { Hypervisor, Isolation, Profile, RuntimeKind } from './common.js';

const Bounds = Type.Object({ default: Type.Number(), max: Type.Number() });

export const RuntimesInfo = Type.Object({
  languages: Type.Array(
    Type.Object({
      name: Type.String({ examples: ['python'] }),
      aliases: Type.Array(Type.String()),
      version: Type.Union([Type.String(), Type.Null()], { description: 'Read from the sandbox image (null if the image does not say).' }),
      entryFile: Type.String({ description: 'The file `code` is written to under /code.' }),
    }),
  ),
  runtimes: Type.Array(
    Type.Object({
      kind: RuntimeKind,
      isolation: Isolation,
      installed: Type.Boolean({ description: 'Its binaries are on this host.' }),
      active: Type.Boolean({ description: 'The runtime this service runs every sandbox on.' }),
      ociRuntime: Type.String(),
      hypervisors: Type.Array(Hypervisor, { description: 'For kata: the hypervisors whose containerd shim is installed.' }),
    }),
  ),
  image: Type.String(),
  limits: Type.Object(
    {
      timeoutMs: Bounds,
      memoryMb: Bounds,
      cpus: Bounds,
      pids: Bounds,
      diskMb: Bounds,
      outputBytes: Bounds,
      openFiles: Bounds,
    },
    { description: 'Server defaults and maxima; a request above a maximum gets 400 LIMIT_EXCEEDED.' },
  ),
  profiles: Type.Array(
    Type.Object({
      name: Profile,
      available: Type.Boolean({ description: 'False when the active runtime cannot run it (hardened on runc).' }),
      defaults: Type.Record(Type.String(), Type.Number(), { description: 'Limits this profile sets tighter than the server defaults.' }),
    }),
  ),
});
export type RuntimesInfo = Static<typeof RuntimesInfo>;
