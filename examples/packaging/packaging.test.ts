// Packaging check (slow: minutes; run with `pnpm test:packaging` after `pnpm build`):
//
// 1. every publishable package is packed with `pnpm pack`: the packed manifest has no workspace
//    specifiers and no `@stabilize/source` condition, every `exports` / `main` / `types` / `bin`
//    target is in the tarball, and the tarball passes publint and @arethetypeswrong/cli;
// 2. `@stabilize/core` + `@stabilize/store-sqlite` alone are installed with npm into an empty
//    folder; the Quick Start (examples/quick-start.ts) is compiled there against the installed type
//    declarations and run with plain `node`; neither `pg`, `ink` nor `react` may be installed;
// 3. the same for the `stabilize` CLI: `pg` must be there, `stabilize --help` must work, and with
//    STABILIZE_TEST_PG_URL set, `mg-up` / `mg-status` run against that server.
//
// npm may fetch public dependencies (better-sqlite3, drizzle-orm, pg, …) from the registry;
// better-sqlite3 is compiled from source when no prebuilt binary can be downloaded
// (npm_config_nodedir defaults to /usr here).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { describeFailure, EXAMPLES_DIR, REPO_ROOT, runProcess } from '../test/support/run.js';

/** Publishable packages: workspace directory -> package name. */
const PACKAGES: Record<string, string> = {
  'packages/core': '@stabilize/core',
  'packages/store-sqlite': '@stabilize/store-sqlite',
  'packages/store-postgres': '@stabilize/store-postgres',
  'packages/events': '@stabilize/events',
  'packages/tasks-builtin': '@stabilize/tasks-builtin',
  'packages/cli': '@stabilize/cli',
  'apps/monitor': '@stabilize/monitor',
  'apps/cli': 'stabilize',
};
const PUBLINT = 'publint@0.3.25';
const ATTW = '@arethetypeswrong/cli@0.18.5';

const WORK = mkdtempSync(join(tmpdir(), 'stabilize-packaging-'));
const PACKS = join(WORK, 'packs');
const tarballs = new Map<string, string>(); // package name -> tarball path
const requireFromRoot = createRequire(join(REPO_ROOT, 'package.json'));
const PG_URL = process.env.STABILIZE_TEST_PG_URL;

const env: NodeJS.ProcessEnv = {
  npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
  pnpm_config_verify_deps_before_run: 'false',
};

/** A local binary of the workspace root, or `npx --yes <spec>` when it is not installed. */
function tool(bin: string, spec: string): { command: string; args: string[] } {
  const local = join(REPO_ROOT, 'node_modules/.bin', bin);
  return existsSync(local) ? { command: local, args: [] } : { command: 'npx', args: ['--yes', spec] };
}

async function run(command: string, args: string[], cwd: string, timeoutMs = 600_000) {
  const result = await runProcess(command, args, { cwd, env, timeoutMs });
  expect(result.code, describeFailure(`${command} ${args.join(' ')} (in ${cwd})`, result)).toBe(0);
  return result;
}

/** Names of every installed package in `node_modules` (nested ones included). */
function installed(nodeModules: string, found = new Set<string>()): Set<string> {
  if (!existsSync(nodeModules)) return found;
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue;
    const dirs = entry.startsWith('@') ? readdirSync(join(nodeModules, entry)).map((e) => `${entry}/${e}`) : [entry];
    for (const name of dirs) {
      found.add(name);
      installed(join(nodeModules, name, 'node_modules'), found);
    }
  }
  return found;
}

/** An empty npm project depending on `deps`, with every @stabilize package pinned to its tarball. */
function consumer(name: string, deps: string[]): string {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  const file = (pkg: string) => `file:${tarballs.get(pkg)}`;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name,
        private: true,
        type: 'module',
        dependencies: Object.fromEntries(deps.map((d) => [d, file(d)])),
        // Workspace packages are not on the registry: resolve every one of them to its tarball.
        overrides: Object.fromEntries([...tarballs.keys()].filter((p) => !deps.includes(p)).map((p) => [p, file(p)])),
      },
      null,
      2,
    ),
  );
  return dir;
}

beforeAll(async () => {
  mkdirSync(PACKS, { recursive: true });
  for (const [dir, name] of Object.entries(PACKAGES)) {
    const before = new Set(readdirSync(PACKS));
    await run('pnpm', ['pack', '--pack-destination', PACKS], join(REPO_ROOT, dir), 120_000);
    const created = readdirSync(PACKS).find((f) => !before.has(f) && f.endsWith('.tgz'));
    if (!created) throw new Error(`pnpm pack of ${dir} wrote no tarball`);
    tarballs.set(name, join(PACKS, created));
  }
}, 600_000);

afterAll(() => {
  if (!process.env.KEEP_PACKAGING_CHECK) rmSync(WORK, { recursive: true, force: true });
  else console.log(`packaging check files kept in ${WORK}`);
});

describe.each(Object.entries(PACKAGES))('%s', (dir, name) => {
  const unpacked = () => {
    const target = join(WORK, 'unpacked', name.replace('/', '__'));
    if (!existsSync(target)) {
      mkdirSync(target, { recursive: true });
      execFileSync('tar', ['xzf', tarballs.get(name)!, '-C', target]);
    }
    return join(target, 'package');
  };

  test('the packed manifest is complete and points at packed files', () => {
    const root = unpacked();
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    const dependencies = JSON.stringify([manifest.dependencies, manifest.peerDependencies, manifest.optionalDependencies]);
    expect(dependencies, 'workspace: specifiers left in the packed manifest').not.toContain('workspace:');
    expect(JSON.stringify(manifest.exports ?? {}), 'the development-only export condition was published').not.toContain('@stabilize/source');
    expect(manifest.name).toBe(name);
    expect(manifest.license).toBe('Apache-2.0');
    expect(manifest.type).toBe('module');
    expect((manifest.repository as { directory?: string } | undefined)?.directory).toBe(dir);
    expect((manifest.publishConfig as { access?: string } | undefined)?.access).toBe('public');
    expect(existsSync(join(root, 'README.md')), 'README.md').toBe(true);
    const targets: string[] = [];
    const collect = (value: unknown): void => {
      if (typeof value === 'string') targets.push(value);
      else if (value && typeof value === 'object') for (const v of Object.values(value)) collect(v);
    };
    collect(manifest.exports);
    collect(manifest.bin);
    for (const field of ['main', 'types']) if (typeof manifest[field] === 'string') targets.push(manifest[field] as string);
    const missing = targets.filter((t) => !existsSync(join(root, t)));
    expect(missing, `files named by the manifest but not in the tarball (run \`pnpm build\` first?)`).toEqual([]);
    const exportsMap = manifest.exports as Record<string, unknown> | undefined;
    for (const [key, value] of Object.entries(exportsMap ?? {})) {
      if (typeof value === 'object' && value !== null) expect(Object.keys(value)[0], `exports['${key}']: "types" must come first`).toBe('types');
    }
  });

  test('publint', { timeout: 300_000 }, async () => {
    const { command, args } = tool('publint', PUBLINT);
    const result = await run(command, [...args, '--strict', unpacked()], WORK);
    expect(result.stdout).toContain('All good');
  });

  test('@arethetypeswrong/cli (ESM only)', { timeout: 300_000 }, async () => {
    const manifest = JSON.parse(readFileSync(join(unpacked(), 'package.json'), 'utf8')) as { exports?: Record<string, unknown> };
    const hasTypes = Object.values(manifest.exports ?? {}).some((v) => typeof v === 'object');
    if (!hasTypes) return; // the CLI package exports no modules
    const { command, args } = tool('attw', ATTW);
    await run(command, [...args, tarballs.get(name)!, '--profile', 'esm-only'], WORK);
  });
});

describe('installed with npm, outside the workspace', () => {
  test('@stabilize/core + @stabilize/store-sqlite run the Quick Start, without pg, ink or react', { timeout: 900_000 }, async () => {
    const dir = consumer('quick-start', ['@stabilize/core', '@stabilize/store-sqlite']);
    await run('npm', ['install', '--no-package-lock'], dir);
    const names = installed(join(dir, 'node_modules'));
    expect([...names].filter((n) => ['pg', 'ink', 'react'].includes(n)), 'forbidden dependencies installed').toEqual([]);
    expect(names.has('better-sqlite3')).toBe(true);

    // Compile the Quick Start against the *installed* declarations (no source condition), run it with node.
    copyFileSync(join(EXAMPLES_DIR, 'quick-start.ts'), join(dir, 'quick-start.ts'));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          outDir: 'dist',
          types: ['node'],
          typeRoots: [join(REPO_ROOT, 'node_modules/@types')],
          skipLibCheck: true,
        },
        files: ['quick-start.ts'],
      }),
    );
    await run(process.execPath, [requireFromRoot.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], dir);
    const result = await run(process.execPath, ['dist/quick-start.js'], dir, 60_000);
    expect(result.stdout).toContain('Workflow status: SUCCEEDED');
    expect(result.stdout).toContain('Greeting: Hello, Stabilize!');
  });

  test('the stabilize CLI brings PostgreSQL support and runs', { timeout: 900_000 }, async () => {
    const dir = consumer('cli', ['stabilize']);
    await run('npm', ['install', '--no-package-lock'], dir);
    const names = installed(join(dir, 'node_modules'));
    expect(names.has('pg'), 'pg is installed with the CLI').toBe(true);
    expect(names.has('@stabilize/store-postgres')).toBe(true);

    const bin = join(dir, 'node_modules/.bin/stabilize');
    const help = await run(bin, ['--help'], dir, 60_000);
    expect(help.stdout).toContain('mg-up');
    const version = await run(bin, ['--version'], dir, 60_000);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);

    if (!PG_URL) {
      console.log('packaging: mg-up/mg-status against PostgreSQL skipped (STABILIZE_TEST_PG_URL not set)');
      return;
    }
    const schema = `packaging_${process.pid}`;
    const url = new URL(PG_URL);
    url.searchParams.set('schema', schema);
    try {
      const up = await run(bin, ['mg-up', '--db-url', url.toString()], dir, 120_000);
      expect(up.stdout).toMatch(/Applied \d+ migration\(s\)/);
      const status = await run(bin, ['mg-status', '--db-url', url.toString()], dir, 60_000);
      expect(status.stdout).toContain('Schema is up to date.');
    } finally {
      const admin = new URL(PG_URL);
      admin.search = '';
      await runProcess('psql', [admin.toString(), '-qc', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { timeoutMs: 30_000 }).catch(() => undefined);
    }
  });
});
