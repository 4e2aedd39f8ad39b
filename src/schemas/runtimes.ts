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
      compile: Type.Union(
        [
          Type.Object({
            command: Type.Array(Type.String(), { description: 'The compiler argv, run in /code before the program (extra compiler arguments go before the source file).' }),
            env: Type.Array(Type.String(), { description: 'NAME=value the compiler gets on top of the sandbox environment.' }),
          }),
          Type.Null(),
        ],
        { description: 'Compiled languages: how the entry file is compiled; null for an interpreted one.' },
      ),
      run: Type.Array(Type.String(), { description: 'The argv that runs the program (the built binary for a compiled language).' }),
      image: Type.String({ description: 'The smallest sandbox image built by scripts/build-image.sh that holds the language (toolruntime-sandbox:latest or toolruntime-sandbox-full:latest).' }),
      available: Type.Boolean({
        description: "Whether this service's sandbox image holds it (its /etc/kata-exec/languages.json). A request for one that is not gets 422 LANGUAGE_NOT_AVAILABLE.",
      }),
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
  sessions: Type.Optional(
    Type.Object(
      {
        idleTimeoutMs: Bounds,
        maxLifetimeMs: Bounds,
        perKey: Type.Integer({ description: 'Sessions one key may have at once (0: sessions are off).' }),
        max: Type.Integer({ description: 'Sessions the whole service may have at once.' }),
        fileMaxBytes: Type.Integer({ description: 'The largest file (or directory archive) one request may move in or out of a session.' }),
        outputFiles: Type.Object({ maxCount: Type.Integer(), maxBytes: Type.Integer() }, { description: "The bounds of /v1/execute's outputFiles." }),
      },
      { description: 'Sessions (POST /v1/sessions): the defaults and maxima of their lifetimes, and their limits.' },
    ),
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
