/**
 * Units and the one lower bound they share, so that the schema, the configuration, the
 * spec validation and the runtimes agree. A leaf: any layer may import it.
 */
export const MIB = 1024 * 1024;

/** The smallest memory limit: below it no interpreter of the image starts. */
export const MIN_MEMORY_MB = 16;

export function mibToBytes(mib: number): number {
  return mib * MIB;
}

/** Whole MiB, rounded up (a VM is sized in MiB). */
export function bytesToMib(bytes: number): number {
  return Math.ceil(bytes / MIB);
}
