import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Record<string, Record<string, string> | undefined>;

describe('@stabilize/core package boundaries', () => {
  it('depends on no database driver, ORM or UI library', () => {
    const all = { ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.optionalDependencies };
    for (const banned of ['pg', 'better-sqlite3', 'drizzle-orm', 'ink', 'react']) expect(Object.keys(all)).not.toContain(banned);
    expect(Object.keys(manifest.dependencies ?? {})).toEqual([]);
  });

  it('imports no other @stabilize package from its sources', async () => {
    const { readdirSync, statSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = new URL('../src', import.meta.url).pathname;
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) walk(path);
        else if (/from '(@stabilize\/|pg'|better-sqlite3|drizzle-orm|ink'|react')/.test(readFileSync(path, 'utf8'))) offenders.push(path);
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});
