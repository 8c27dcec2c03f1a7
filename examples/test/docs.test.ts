// Every ```ts block of README.md, docs/*.md and the package READMEs is type-checked (strict, as the
// packages are) and run as its own Node process, which must exit with code 0. Markers that change
// this are described in support/markdown.ts.
//
// A line `console.log(<expression>); //=> <value>` is also an assertion: when the block runs, the
// expression must deep-equal the JavaScript value after `//=>` (a plain `//` comment is not checked).
//
// Set KEEP_DOCS_CHECK=1 to keep the generated files in examples/.docs-check for inspection.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { extractBlocks, markdownSources, type Program, toPrograms } from './support/markdown.js';
import { describeFailure, EXAMPLES_DIR, REPO_ROOT, runProcess, runTypeScript } from './support/run.js';

const OUT = join(EXAMPLES_DIR, '.docs-check');
const VITEST_DIR = join(OUT, 'vitest');
/** The programs as run: `//=>` lines turned into checks (type-checked as written, in OUT). */
const RUN_DIR = join(OUT, 'run');
const PG_URL = process.env.STABILIZE_TEST_PG_URL;
const requireFromRoot = createRequire(join(REPO_ROOT, 'package.json'));
/**
 * Package READMEs whose blocks are fragments (not yet programs of their own). Each is still listed
 * by the test below; remove it from here once its blocks run.
 */
const NOT_CHECKED_YET = new Set(['packages/events/README.md', 'packages/store-postgres/README.md']);

const sources = markdownSources(REPO_ROOT);
const programs: Program[] = sources.filter((doc) => !NOT_CHECKED_YET.has(doc)).flatMap((doc) => toPrograms(extractBlocks(REPO_ROOT, doc)));
const fileOf = (p: Program) => (p.vitest ? join(VITEST_DIR, `${p.name}.test.ts`) : join(OUT, `${p.name}.ts`));
const runFileOf = (p: Program) => (p.vitest ? fileOf(p) : join(RUN_DIR, `${p.name}.ts`));

const EXPECT_LINE = /^(\s*)console\.log\((.*)\);\s*\/\/=>\s*(.+?)\s*$/;
const EXPECT_HELPER = `import { inspect, isDeepStrictEqual } from 'node:util';
export function __expect(actual: unknown, expected: unknown, where: string): void {
  console.log(actual);
  if (!isDeepStrictEqual(actual, expected)) {
    console.error(\`\${where}: expected \${inspect(expected, { depth: 8 })}, got \${inspect(actual, { depth: 8 })}\`);
    process.exitCode = 1;
    process.on('exit', () => (process.exitCode = 1)); // even if the block sets another exit code later
  }
}
`;

/** The program with each `console.log(x); //=> v` line replaced by a check of x against v. */
function withChecks(p: Program): string {
  const lines = p.code.split('\n').map((line, i) => {
    const m = EXPECT_LINE.exec(line);
    return m ? `${m[1]}__expect(${m[2]}, ${m[3]}, ${JSON.stringify(`${p.doc}:${p.docLines[i] ?? p.line}`)});` : line;
  });
  return `import { __expect } from './__expect.js';\n${lines.join('\n')}\nexport {};\n`;
}
const where = (p: Program) => `${p.doc}:${p.line}`;

beforeAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(VITEST_DIR, { recursive: true });
  mkdirSync(RUN_DIR, { recursive: true });
  writeFileSync(join(RUN_DIR, '__expect.ts'), EXPECT_HELPER);
  for (const p of programs) {
    writeFileSync(fileOf(p), `${p.code}\nexport {};\n`);
    if (!p.vitest) writeFileSync(runFileOf(p), withChecks(p));
  }
  writeFileSync(
    join(OUT, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../tsconfig.base.json',
      compilerOptions: { noEmit: true, rootDir: '.', declaration: false, declarationMap: false, sourceMap: false },
      include: ['**/*.ts'],
      exclude: ['run'],
    }),
  );
  writeFileSync(
    join(VITEST_DIR, 'vitest.config.mjs'),
    `import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../../vitest.shared.js';
export default mergeConfig(shared, defineConfig({ test: { include: ['*.test.ts'], testTimeout: 120000 } }));
`,
  );
});

afterAll(() => {
  if (!process.env.KEEP_DOCS_CHECK) rmSync(OUT, { recursive: true, force: true });
});

test('`//=>` checks are recognised', () => {
  const p: Program = { doc: 'x.md', line: 3, name: 'x', code: "const a = 1;\nconsole.log({ a }); //=> { a: 1 }", docLines: [3, 4], postgres: false, vitest: false };
  expect(withChecks(p)).toContain(`__expect({ a }, { a: 1 }, "x.md:4");`);
});

test('the docs have TypeScript blocks to check', () => {
  const docs = new Set(programs.map((p) => p.doc));
  expect([...docs]).toEqual(expect.arrayContaining(['README.md', 'docs/getting-started.md']));
  expect([...NOT_CHECKED_YET].filter((doc) => !sources.includes(doc)), 'NOT_CHECKED_YET lists files that do not exist').toEqual([]);
});

test('every block type-checks', { timeout: 300_000 }, () => {
  const tsc = requireFromRoot.resolve('typescript/bin/tsc');
  let output = '';
  try {
    execFileSync(process.execPath, [tsc, '-p', join(OUT, 'tsconfig.json'), '--pretty', 'false'], { cwd: OUT, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
  }
  // `file.ts(12,5): error TS2345: ...` -> `docs/x.md:40: error TS2345: ...`
  const byFile = new Map(programs.map((p) => [relative(OUT, fileOf(p)), p]));
  const errors = output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line.trim());
      const p = m ? byFile.get(m[1]!) : undefined;
      if (!m || !p) return line;
      const docLine = p.docLines[Number(m[2]) - 1] ?? p.line;
      return `${p.doc}:${docLine}:${m[3]}: ${m[4]}`;
    });
  expect(errors, errors.join('\n')).toEqual([]);
});

/** Docs that other work will add; links to them may dangle until then. */
const PENDING_DOCS = new Set(['docs/patterns.md', 'docs/performance.md']);

/** GitHub's anchor of a heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

test('relative links and their anchors resolve', () => {
  const broken: string[] = [];
  for (const doc of sources) {
    const text = readFileSync(join(REPO_ROOT, doc), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue;
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const file = relative(REPO_ROOT, join(REPO_ROOT, dirname(doc), path));
      if (!existsSync(join(REPO_ROOT, file))) {
        if (!PENDING_DOCS.has(file)) broken.push(`${doc}: ${target} (no such file)`);
        continue;
      }
      if (anchor && file.endsWith('.md')) {
        const headings = readFileSync(join(REPO_ROOT, file), 'utf8')
          .split('\n')
          .filter((l) => /^#{1,6} /.test(l))
          .map((l) => slug(l.replace(/^#+ /, '')));
        if (!headings.includes(anchor)) broken.push(`${doc}: ${target} (no such heading)`);
      }
    }
  }
  expect(broken, broken.join('\n')).toEqual([]);
});

describe('every block runs', () => {
  for (const p of programs.filter((q) => !q.vitest)) {
    const skip = p.postgres && !PG_URL;
    test.skipIf(skip).concurrent(`${where(p)}${p.postgres ? ' (PostgreSQL)' : ''}`, { timeout: 120_000 }, async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'stabilize-docs-'));
      const schema = `docs_${p.name.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(-40)}_${process.pid}`;
      const env: NodeJS.ProcessEnv = { TMPDIR: cwd }; // temporary files of the block go with its folder
      if (p.postgres && PG_URL) env.DATABASE_URL = withSchema(PG_URL, schema);
      try {
        const result = await runTypeScript(runFileOf(p), { cwd, env, timeoutMs: 100_000 });
        expect(result.code, describeFailure(where(p), result)).toBe(0);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
        if (p.postgres && PG_URL) dropSchema(PG_URL, schema);
      }
    });
  }

  const vitestPrograms = programs.filter((q) => q.vitest);
  test.skipIf(vitestPrograms.length === 0)(`test blocks (${vitestPrograms.map(where).join(', ')})`, { timeout: 600_000 }, async () => {
    const vitest = join(REPO_ROOT, 'node_modules/vitest/vitest.mjs');
    const result = await runProcess(process.execPath, [vitest, 'run', '--config', join(VITEST_DIR, 'vitest.config.mjs'), '--root', VITEST_DIR], {
      cwd: VITEST_DIR,
      timeoutMs: 580_000,
    });
    expect(result.code, describeFailure('vitest run of the test blocks', result)).toBe(0);
  });
});

function withSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('schema', schema);
  return parsed.toString();
}

/** Best effort: the docs blocks create their schema with `migrate`; drop it again. */
function dropSchema(url: string, schema: string): void {
  const parsed = new URL(url);
  parsed.search = '';
  try {
    execFileSync('psql', [parsed.toString(), '-qc', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: 'ignore', timeout: 15_000 });
  } catch {
    // psql missing or the server gone: the schema stays (CI drops its whole database).
  }
}
