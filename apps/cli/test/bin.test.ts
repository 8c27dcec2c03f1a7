// The `stabilize` binary as a real process: bin/stabilize.js (from source here) with its own env
// and working directory.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/stabilize.js', import.meta.url));
const PG_URL = process.env.STABILIZE_TEST_PG_URL ?? '';
const describePg: typeof describe = describe.skipIf(!PG_URL) as typeof describe;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dirs: string[] = [];
function emptyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stz-bin-'));
  dirs.push(dir);
  return dir;
}

/** Runs the binary with a clean environment (no MG_* unless given) in `cwd`. */
function stabilize(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Result> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'SYSTEMROOT']) if (process.env[key]) env[key] = process.env[key]!;
  Object.assign(env, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? emptyDir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('stabilize (no database needed)', () => {
  it('prints help with examples (exit 0), and help then exit 1 without a command', async () => {
    const help = await stabilize(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Stabilize - Workflow Engine CLI');
    expect(help.stdout).toMatch(/mg-up .*Apply pending PostgreSQL migrations/);
    expect(help.stdout).toMatch(/mg-status .*Show migration status/);
    expect(help.stdout).toContain('Examples:');
    const upHelp = await stabilize(['mg-up', '--help']);
    expect(upHelp.code).toBe(0);
    expect(upHelp.stdout).toContain('--db-url <url>');
    expect(upHelp.stdout).toMatch(/MG_DATABASE_URL[\s\S]*mg\.yaml[\s\S]*MG_SCHEMA/);
    const bare = await stabilize([]);
    expect(bare.code).toBe(1);
    expect(bare.stdout).toContain('Usage: stabilize');
  });

  it('exits 2 on usage errors and prints the version', async () => {
    const unknown = await stabilize(['mg-sideways']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'mg-sideways'");
    expect((await stabilize(['mg-up', '--nope'])).code).toBe(2);
    const version = await stabilize(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 3 when no configuration is found', async () => {
    for (const command of ['mg-up', 'mg-status']) {
      const result = await stabilize([command]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('Error: No database configuration found');
      expect(result.stderr).toMatch(/--db-url.*MG_DATABASE_URL.*mg\.yaml/);
    }
  });

  it('exits 4 on an invalid URL, schema or mg.yaml, without printing the password', async () => {
    const invalid = await stabilize(['mg-up', '--db-url', 'postgres://admin:Hunter2Secret@/nodb']);
    expect(invalid.code).toBe(4);
    expect(invalid.stderr).toContain('Invalid database URL');
    expect(invalid.stderr).toContain('admin:***@');
    const schema = await stabilize(['mg-status'], { env: { MG_DATABASE_URL: 'postgres://h/d', MG_SCHEMA: 'drop table' } });
    expect(schema.code).toBe(4);
    expect(schema.stderr).toContain("Invalid schema name: 'drop table'");
    const cwd = emptyDir();
    writeFileSync(join(cwd, 'mg.yaml'), 'database:\n  port: 5432\n');
    const yaml = await stabilize(['mg-up'], { cwd });
    expect(yaml.code).toBe(4);
    expect(yaml.stderr).toContain("'database.host' is required");
    for (const r of [invalid, schema, yaml]) expect(r.stdout + r.stderr).not.toContain('Hunter2Secret');
  });

  it('exits 5 when the server is unreachable, showing a redacted URL', async () => {
    for (const command of ['mg-up', 'mg-status']) {
      const result = await stabilize([command, '--db-url', 'postgres://admin:Hunter2Secret@127.0.0.1:1/app']);
      expect(result.code).toBe(5);
      expect(result.stderr).toContain('Cannot reach the PostgreSQL server at 127.0.0.1:1');
      expect(result.stdout + result.stderr).not.toContain('Hunter2Secret');
    }
    const shown = await stabilize(['mg-up'], { env: { MG_DATABASE_URL: 'postgres://admin:Hunter2Secret@127.0.0.1:1/app' } });
    expect(shown.stdout).toContain('Database: postgres://admin:***@127.0.0.1:1/app');
    expect(shown.code).toBe(5);
  });

  it('explains that SQLite needs no migrations (exit 0)', async () => {
    const result = await stabilize(['mg-status', '--db-url', 'sqlite:///app.db']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('the SQLite store creates and upgrades its schema itself');
  });
});

describePg('stabilize against PostgreSQL', () => {
  const schemas: string[] = [];
  const newSchema = () => {
    const s = `bin_${randomBytes(5).toString('hex')}`;
    schemas.push(s);
    return s;
  };
  const withSchema = (schema: string) => {
    const u = new URL(PG_URL);
    u.searchParams.set('schema', schema);
    return u.toString();
  };
  const query = async (text: string, values: unknown[] = []) => {
    const pg = createRequire(new URL('../../../packages/store-postgres/package.json', import.meta.url))('pg');
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return (await client.query(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  afterAll(async () => {
    for (const s of schemas) await query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  });

  it('applies the migrations, is a no-op the second time, and shows their status', async () => {
    const schema = newSchema();
    const up = await stabilize(['mg-up', '--db-url', withSchema(schema)]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/Applying: 01\w{24}_initial_schema/);
    expect(up.stdout).toMatch(/Applied \d+ migration\(s\)/);
    const again = await stabilize(['mg-up', '--db-url', withSchema(schema)]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('All migrations already applied');
    const status = await stabilize(['mg-status', '--db-url', withSchema(schema)]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Status\s+Migration\s+Applied At/);
    expect(status.stdout).toMatch(/applied\s+01\w{24}_initial_schema\s+\d{4}-/);
  });

  it('runs two mg-up at once safely: both succeed, each migration is applied once', async () => {
    const schema = newSchema();
    const [a, b] = await Promise.all([stabilize(['mg-up', '--db-url', withSchema(schema)]), stabilize(['mg-up', '--db-url', withSchema(schema)])]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(`${a.stdout}${b.stdout}`.match(/Applying: /g)?.length).toBe((await query(`SELECT count(*)::int AS n FROM "${schema}".stabilize_migrations`))[0].n);
    expect([a.stdout, b.stdout].filter((s) => s.includes('All migrations already applied'))).toHaveLength(1);
  });

  it('takes --db-url over MG_DATABASE_URL over ./mg.yaml, with MG_SCHEMA for the latter two', async () => {
    const flagSchema = newSchema();
    const envSchema = newSchema();
    const yamlSchema = newSchema();
    const u = new URL(PG_URL);
    const cwd = emptyDir();
    writeFileSync(join(cwd, 'mg.yaml'), `database:\n  host: ${u.hostname}\n  port: ${u.port || 5432}\n  user: ${decodeURIComponent(u.username) || 'postgres'}\n  password: "${decodeURIComponent(u.password)}"\n  dbname: ${u.pathname.slice(1)}\n  schema: ${yamlSchema}\n`);
    const unreachable = 'postgres://x:y@127.0.0.1:1/z';
    const flag = await stabilize(['mg-up', '--db-url', withSchema(flagSchema)], { cwd, env: { MG_DATABASE_URL: unreachable, MG_SCHEMA: envSchema } });
    expect(flag.code).toBe(0);
    expect(flag.stdout).toContain(`Target schema: ${flagSchema}`);
    const env = await stabilize(['mg-up'], { cwd, env: { MG_DATABASE_URL: withSchema('ignored_schema'), MG_SCHEMA: envSchema } });
    expect(env.code).toBe(0);
    expect(env.stdout).toContain(`Target schema: ${envSchema}`);
    const yaml = await stabilize(['mg-up'], { cwd });
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toContain(`Target schema: ${yamlSchema}`);
    const created = (await query('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)', [[flagSchema, envSchema, yamlSchema, 'ignored_schema']])).map((r: { nspname: string }) => r.nspname);
    expect(created.sort()).toEqual([flagSchema, envSchema, yamlSchema].sort());
  });

  it('exits 6 for a database that does not exist or a role the server rejects', async () => {
    const missing = new URL(PG_URL);
    missing.pathname = '/stz_no_such_db';
    const db = await stabilize(['mg-status', '--db-url', missing.toString()]);
    expect(db.code).toBe(6);
    expect(db.stderr).toContain("Database 'stz_no_such_db' does not exist");
    const role = new URL(PG_URL);
    role.username = 'stz_no_such_role';
    role.password = 'Hunter2Secret';
    const user = await stabilize(['mg-up', '--db-url', role.toString()]);
    expect(user.code).toBe(6);
    expect(user.stderr).toContain("PostgreSQL rejected user 'stz_no_such_role'");
    expect(user.stdout + user.stderr).not.toContain('Hunter2Secret');
  });

  it('warns about a changed migration, and exits 7 with STABILIZE_STRICT_MIGRATIONS', async () => {
    const schema = newSchema();
    expect((await stabilize(['mg-up', '--db-url', withSchema(schema)])).code).toBe(0);
    await query(`UPDATE "${schema}".stabilize_migrations SET checksum = 'changed'`);
    const lenient = await stabilize(['mg-up', '--db-url', withSchema(schema)]);
    expect(lenient.code).toBe(0);
    expect(lenient.stderr).toMatch(/Warning: Checksum mismatch for 01\w{24}_initial_schema/);
    const status = await stabilize(['mg-status', '--db-url', withSchema(schema)]);
    expect(status.stdout).toMatch(/MISMATCH\s+01\w{24}_initial_schema/);
    const strict = await stabilize(['mg-up', '--db-url', withSchema(schema)], { env: { STABILIZE_STRICT_MIGRATIONS: 'yes' } });
    expect(strict.code).toBe(7);
    expect(strict.stderr).toMatch(/Checksum mismatch/);
  });
});
