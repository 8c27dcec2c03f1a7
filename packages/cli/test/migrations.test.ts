import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { captureOutput, ExitCode, mgStatus, mgUp, parseDatabaseUrl, type PostgresConfig } from '../src/index.js';

const PG_URL = process.env.STABILIZE_TEST_PG_URL ?? '';
const describePg: typeof describe = describe.skipIf(!PG_URL) as typeof describe;

describe('SQLite URLs', () => {
  it('mg-status and mg-up explain that the SQLite store creates its own schema (exit 0)', async () => {
    const config = parseDatabaseUrl('sqlite:///var/app.db', '--db-url');
    for (const command of [mgStatus, mgUp]) {
      const output = captureOutput();
      expect(await command(config, output)).toBe(ExitCode.OK);
      expect(output.stdout.join('\n')).toMatch(/SQLite store creates and upgrades its schema itself/);
    }
  });
});

describe('unreachable servers', () => {
  it('exit with UNREACHABLE and never print the password', async () => {
    const config = parseDatabaseUrl('postgres://admin:sup3rsecret@127.0.0.1:1/db', '--db-url');
    for (const command of [mgUp, mgStatus]) {
      const output = captureOutput();
      expect(await command(config, output)).toBe(ExitCode.UNREACHABLE);
      const all = [...output.stdout, ...output.stderr].join('\n');
      expect(all).toMatch(/Cannot reach the PostgreSQL server at 127\.0\.0\.1:1/);
      expect(all).not.toContain('sup3rsecret');
    }
  });
});

describePg('mg-up / mg-status against PostgreSQL', () => {
  const schema = `cli_${randomBytes(5).toString('hex')}`;
  const base = new URL(PG_URL || 'postgres://unset/unset'); // the body runs even when the suite is skipped
  const config = (extra: Partial<PostgresConfig> = {}): PostgresConfig => ({ ...(parseDatabaseUrl(PG_URL, '--db-url') as PostgresConfig), schema, ...extra });
  afterAll(async () => {
    // pg is a dependency of store-postgres, not of this package: load it from there for the cleanup.
    const pg = createRequire(new URL('../../store-postgres/package.json', import.meta.url))('pg');
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('shows pending migrations, applies them, then reports them applied', async () => {
    let output = captureOutput();
    expect(await mgStatus(config(), output)).toBe(ExitCode.OK);
    expect(output.stdout.join('\n')).toMatch(/pending\s+01\w{24}_initial_schema\s+-/);
    expect(output.stdout.join('\n')).toContain('No migrations applied yet');

    output = captureOutput();
    expect(await mgUp(config(), output)).toBe(ExitCode.OK);
    expect(output.stdout).toContain(`Target schema: ${schema}`);
    expect(output.stdout.some((l) => /^Applying: 01\w{24}_initial_schema$/.test(l))).toBe(true);
    expect(output.stdout.at(-1)).toMatch(/^Applied \d+ migration\(s\)$/);

    output = captureOutput();
    expect(await mgUp(config(), output)).toBe(ExitCode.OK);
    expect(output.stdout.at(-1)).toBe('All migrations already applied');

    output = captureOutput();
    expect(await mgStatus(config(), output)).toBe(ExitCode.OK);
    expect(output.stdout.join('\n')).toMatch(/applied\s+01\w{24}_initial_schema\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect(output.stdout.join('\n')).toContain('Schema is up to date.');
  });

  it('reports a missing database and an unknown role with the AUTH exit code', async () => {
    const missingDb = new URL(base);
    missingDb.pathname = '/no_such_database_stz';
    let output = captureOutput();
    expect(await mgUp(parseDatabaseUrl(missingDb.toString(), '--db-url'), output)).toBe(ExitCode.AUTH);
    expect(output.stderr.join('\n')).toContain("Database 'no_such_database_stz' does not exist");
    const badUser = new URL(base);
    badUser.username = 'no_such_role_stz';
    badUser.password = 'pw-123456';
    output = captureOutput();
    expect(await mgStatus(parseDatabaseUrl(badUser.toString(), '--db-url'), output)).toBe(ExitCode.AUTH);
    expect(output.stderr.join('\n')).toContain("rejected user 'no_such_role_stz'");
    expect(output.stderr.join('\n')).not.toContain('pw-123456');
  });
});
