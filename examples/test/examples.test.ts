// Smoke test: every example (each *.ts file next to package.json) runs as a real process on
// embedded SQLite and exits with code 0, and has a one-command script in package.json.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { describeFailure, EXAMPLES_DIR, runTypeScript } from './support/run.js';

const examples = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort();
const scripts = (JSON.parse(readFileSync(join(EXAMPLES_DIR, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

test('every example has a script in package.json', () => {
  expect(examples.length).toBeGreaterThanOrEqual(8);
  const missing = examples.filter((file) => !Object.values(scripts).some((s) => new RegExp(`(^|\\s)${file.replace('.', '\\.')}(\\s|$)`).test(s)));
  expect(missing, 'examples without a script').toEqual([]);
});

describe('examples run', () => {
  for (const file of examples) {
    test.concurrent(file, { timeout: 120_000 }, async () => {
      const result = await runTypeScript(join(EXAMPLES_DIR, file), { timeoutMs: 110_000 });
      expect(result.code, describeFailure(file, result)).toBe(0);
    });
  }
});
