import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory in the OS temp dir; `remove()` deletes it with everything in it. */
export function tempDir(prefix = 'stabilize-sqlite-'): { path: string; file(name?: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    file: (name = 'test.db') => join(path, name),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
