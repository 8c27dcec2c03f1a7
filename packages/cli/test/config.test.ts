import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CliConfigError, captureOutput, ExitCode, parseDatabaseUrl, parseMgYaml, redactUrl, resolveDatabaseConfig, scrubSecret, withDatabaseConfig } from '../src/index.js';

const dirs: string[] = [];
function dirWith(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'stz-cli-'));
  dirs.push(dir);
  if (yaml !== undefined) writeFileSync(join(dir, 'mg.yaml'), yaml);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const YAML = 'database:\n  host: yamlhost\n  port: 5433\n  user: yamluser\n  password: "p@ss:w/rd"\n  dbname: yamldb\n';

function configError(fn: () => unknown): CliConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof CliConfigError) return error;
    throw error;
  }
  throw new Error('expected a CliConfigError');
}

describe('resolveDatabaseConfig', () => {
  it('takes --db-url first, then MG_DATABASE_URL, then ./mg.yaml', () => {
    const cwd = dirWith(YAML);
    const env = { MG_DATABASE_URL: 'postgres://envuser@envhost/envdb' };
    expect(resolveDatabaseConfig({ dbUrl: 'postgres://flaguser@flaghost/flagdb', env, cwd })).toMatchObject({ source: '--db-url', host: 'flaghost', database: 'flagdb', user: 'flaguser' });
    expect(resolveDatabaseConfig({ env, cwd })).toMatchObject({ source: 'MG_DATABASE_URL', host: 'envhost', database: 'envdb' });
    expect(resolveDatabaseConfig({ env: {}, cwd })).toMatchObject({ source: 'mg.yaml', host: 'yamlhost', port: 5433, user: 'yamluser', database: 'yamldb', password: 'p@ss:w/rd' });
    expect(resolveDatabaseConfig({ dbUrl: '  ', env: { MG_DATABASE_URL: '' }, cwd })).toMatchObject({ source: 'mg.yaml' });
  });

  it('reports a missing configuration with its own exit code', () => {
    const error = configError(() => resolveDatabaseConfig({ env: {}, cwd: dirWith() }));
    expect(error.exitCode).toBe(ExitCode.NO_CONFIG);
    expect(error.message).toBe('No database configuration found');
    expect(error.hint).toMatch(/--db-url.*MG_DATABASE_URL.*mg\.yaml/);
  });

  it('applies MG_SCHEMA to MG_DATABASE_URL and mg.yaml, not to --db-url (as upstream)', () => {
    const cwd = dirWith(`${YAML}  schema: from_yaml\n`);
    expect(resolveDatabaseConfig({ env: {}, cwd })).toMatchObject({ schema: 'from_yaml' });
    expect(resolveDatabaseConfig({ env: { MG_SCHEMA: 'from_env' }, cwd })).toMatchObject({ schema: 'from_env' });
    expect(resolveDatabaseConfig({ env: { MG_SCHEMA: 'from_env', MG_DATABASE_URL: 'postgres://h/d?schema=in_url' }, cwd })).toMatchObject({ schema: 'from_env' });
    expect(resolveDatabaseConfig({ dbUrl: 'postgres://h/d?schema=in_url', env: { MG_SCHEMA: 'from_env' }, cwd })).toMatchObject({ schema: 'in_url' });
    expect(resolveDatabaseConfig({ dbUrl: 'postgres://h/d', env: { MG_SCHEMA: 'from_env' }, cwd })).toMatchObject({ schema: null });
  });

  it('validates schema names before connecting', () => {
    for (const bad of ['1abc', 'a-b', 'a"b', 'x'.repeat(64)]) {
      const error = configError(() => resolveDatabaseConfig({ dbUrl: `postgres://h/d?schema=${encodeURIComponent(bad)}` }));
      expect(error.exitCode).toBe(ExitCode.INVALID_CONFIG);
      expect(error.message).toContain('Invalid schema name');
    }
    expect(configError(() => resolveDatabaseConfig({ env: { MG_DATABASE_URL: 'postgres://h/d', MG_SCHEMA: 'no way' } })).exitCode).toBe(ExitCode.INVALID_CONFIG);
    expect(resolveDatabaseConfig({ dbUrl: `postgres://h/d?schema=${'x'.repeat(63)}` })).toMatchObject({ schema: 'x'.repeat(63) });
  });

  it('reports malformed mg.yaml files', () => {
    expect(configError(() => resolveDatabaseConfig({ env: {}, cwd: dirWith('database: [unclosed') })).exitCode).toBe(ExitCode.INVALID_CONFIG);
    expect(configError(() => resolveDatabaseConfig({ env: {}, cwd: dirWith('other: 1\n') })).message).toMatch(/no 'database:' section/);
    expect(configError(() => resolveDatabaseConfig({ env: {}, cwd: dirWith('database:\n  dbname: x\n') })).message).toMatch(/database\.host' is required/);
    expect(configError(() => resolveDatabaseConfig({ env: {}, cwd: dirWith('database:\n  host: h\n  dbname: x\n  port: nope\n') })).message).toMatch(/port/);
  });
});

describe('parseDatabaseUrl', () => {
  it('parses PostgreSQL URLs with defaults, decoding escapes and keeping driver parameters', () => {
    const c = parseDatabaseUrl('postgresql://al%40ice:s%3Acret@db.example:6543/app?sslmode=require&schema=s1', '--db-url');
    expect(c).toMatchObject({ kind: 'postgres', user: 'al@ice', password: 's:cret', host: 'db.example', port: 6543, database: 'app', schema: 's1' });
    expect(c.kind === 'postgres' && c.url).toBe('postgresql://al%40ice:s%3Acret@db.example:6543/app?sslmode=require');
    expect(c.display).toBe('postgresql://al%40ice:***@db.example:6543/app?sslmode=require');
    expect(parseDatabaseUrl('postgres://h/d', '--db-url')).toMatchObject({ user: 'postgres', port: 5432, password: '' });
  });

  it('rejects what is not a usable URL, without echoing the password', () => {
    for (const bad of ['postgres://u:hunter2@/db', 'postgres://u:hunter2@host', 'mysql://u:hunter2@h/d', 'u:hunter2@h/d', 'nonsense']) {
      const error = configError(() => parseDatabaseUrl(bad, '--db-url'));
      expect(error.exitCode, bad).toBe(ExitCode.INVALID_CONFIG);
      expect(error.message).toMatch(/^Invalid database URL/);
      expect(error.message).not.toContain('hunter2');
    }
  });

  it('recognises SQLite URLs', () => {
    expect(parseDatabaseUrl('sqlite:///data/app.db', 'MG_DATABASE_URL')).toMatchObject({ kind: 'sqlite', path: 'data/app.db' });
    expect(parseDatabaseUrl('sqlite:////abs/app.db', 'MG_DATABASE_URL')).toMatchObject({ kind: 'sqlite', path: '/abs/app.db' });
    expect(parseDatabaseUrl('sqlite::memory:', 'MG_DATABASE_URL')).toMatchObject({ kind: 'sqlite', path: ':memory:' });
  });

  it('builds the URL of an mg.yaml with escaped credentials', () => {
    const c = parseMgYaml(YAML);
    expect(c.url).toBe('postgres://yamluser:p%40ss%3Aw%2Frd@yamlhost:5433/yamldb');
    expect(c.display).toBe('postgres://yamluser:***@yamlhost:5433/yamldb');
    expect(parseDatabaseUrl(c.url, 'mg.yaml')).toMatchObject({ password: 'p@ss:w/rd', user: 'yamluser' });
  });
});

describe('redaction', () => {
  it('hides passwords in URLs and messages', () => {
    expect(redactUrl('postgres://u:secret@h:5432/d')).toBe('postgres://u:***@h:5432/d');
    expect(scrubSecret('auth failed for secret', 'secret')).toBe('auth failed for ***');
    expect(scrubSecret('nothing', '')).toBe('nothing');
  });
});

describe('withDatabaseConfig', () => {
  it('prints configuration errors with their hint and returns their exit code', async () => {
    const output = captureOutput();
    const code = await withDatabaseConfig({ dbUrl: 'postgres://u:hunter2@nohost', env: {} }, output, async () => ExitCode.OK);
    expect(code).toBe(ExitCode.INVALID_CONFIG);
    expect(output.stderr[0]).toMatch(/^Error: Invalid database URL/);
    expect(output.stderr.join('\n')).not.toContain('hunter2');
    expect(output.stdout).toEqual([]);
  });
});
