import { Type, type Static } from 'typebox';
import { ErrorCode } from '../errors.js';

export const Profile = Type.Union(
  [Type.Literal('dev'), Type.Literal('standard'), Type.Literal('hardened')],
  {
    description:
      'Sandbox profile. `dev`: root user over a writable root (discarded afterwards), no network. `standard`: no network, read-only root, user nobody, no capabilities. `hardened`: standard plus stricter limits; refused on runc.',
  },
);
export type Profile = Static<typeof Profile>;

/** The sandbox runtimes, declared once; src/runtimes/ has one driver for each. */
export const RuntimeKind = Type.Union([Type.Literal('kata'), Type.Literal('gvisor'), Type.Literal('runc')], {
  description: 'The sandbox technology: a Kata Containers VM, gVisor (runsc) or a plain runc container.',
});
export type RuntimeKind = Static<typeof RuntimeKind>;
export const RUNTIME_KINDS: readonly RuntimeKind[] = RuntimeKind.anyOf.map((s) => s.const);

export const Hypervisor = Type.Union(
  [Type.Literal('qemu'), Type.Literal('cloud-hypervisor'), Type.Literal('firecracker')],
  { description: 'Kata hypervisor.' },
);
export type Hypervisor = Static<typeof Hypervisor>;

export const Isolation = Type.Union([Type.Literal('vm'), Type.Literal('gvisor'), Type.Literal('container')]);
export type Isolation = Static<typeof Isolation>;

/** RFC 9457 problem details, with our stable `code`. Every 4xx and 5xx has this shape. */
export const ErrorBody = Type.Object(
  {
    type: Type.String({ description: 'A URN naming the error kind: urn:kata-exec:error:<code>.' }),
    title: Type.String({ description: 'The HTTP reason phrase.' }),
    status: Type.Integer({ description: 'The HTTP status code.' }),
    code: Type.Unsafe<ErrorCode>({
      type: 'string',
      enum: Object.values(ErrorCode),
      description: 'Stable machine-readable error code: program against this, never against `detail`.',
      examples: ['UNKNOWN_LANGUAGE'],
    }),
    detail: Type.String({ description: 'What went wrong, for a person.' }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'JSON pointer to the field at fault.' }),
          message: Type.String(),
        }),
        { description: 'The fields at fault, for validation errors.' },
      ),
    ),
    known: Type.Optional(Type.Array(Type.String(), { description: 'For UNKNOWN_LANGUAGE: the languages this service runs.' })),
  },
  { description: 'An RFC 9457 problem details body.' },
);
export type ErrorBody = Static<typeof ErrorBody>;
