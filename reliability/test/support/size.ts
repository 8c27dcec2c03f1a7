// Case sizes: `pnpm test` (CI) runs every case small; `pnpm test:reliability` at the root sets
// STABILIZE_RELIABILITY_SIZE=full and runs the same cases at full size.
export const FULL = process.env.STABILIZE_RELIABILITY_SIZE === 'full';

/** `small` normally, `full` with STABILIZE_RELIABILITY_SIZE=full. */
export const size = <T>(small: T, full: T): T => (FULL ? full : small);
