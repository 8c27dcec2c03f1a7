import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMigrations, MIGRATIONS_DIR, MigrationError, migrate, migrationChecksum, migrationStatus, parseMigration, REQUIRED_TABLES, stabilizeTables, strictMigrationsFromEnv } from '../src/index.js';
import { describePg, dropSchema, PG_URL, randomSchemaName, sql, urlFor } from './pg.js';

describe('migration files', () => {
  it('are named <ULID>_<snake_name>.sql with up and down sections, the first one creating the schema', () => {
    const migrations = loadMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations[0]!.name).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}_initial_schema$/);
    for (const m of migrations) {
      expect(m.up).not.toMatch(/--\s*migrate:/i);
      expect(m.down.length).toBeGreaterThan(0);
      expect(m.checksum).toBe(migrationChecksum(readFileSync(join(MIGRATIONS_DIR, `${m.name}.sql`))));
    }
    // Every required table (but the runner's own) is created by exactly one migration, dropped by its down section.
    for (const table of REQUIRED_TABLES.filter((t) => t !== 'stabilize_migrations')) {
      const creators = migrations.filter((m) => m.up.includes(`CREATE TABLE ${table} (`));
      expect(creators.map((m) => m.name), table).toHaveLength(1);
      expect(creators[0]!.down, table).toContain(`DROP TABLE IF EXISTS ${table};`);
    }
    expect(migrations.map((m) => m.name)).toEqual(migrations.map((m) => m.name).sort());
    for (const table of ['pipeline_executions', 'stage_executions', 'queue_messages']) expect(migrations[0]!.up).toContain(`CREATE TABLE ${table} (`);
    // The event store comes with its own migration.
    expect(migrations.find((m) => m.up.includes('CREATE TABLE stabilize_events ('))?.name).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}_event_sourcing$/);
  });

  it('splits up and down sections case- and space-insensitively', () => {
    expect(parseMigration('-- header\n--MIGRATE: Up\nCREATE x;\n  -- migrate:down  \nDROP x;\n')).toEqual({ up: 'CREATE x;', down: 'DROP x;' });
    expect(parseMigration('CREATE y;')).toEqual({ up: 'CREATE y;', down: '' });
  });

  it('rejects a misnamed migration file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stz-mig-'));
    try {
      writeFileSync(join(dir, 'add_things.sql'), '-- migrate: up\nSELECT 1;');
      expect(() => loadMigrations(dir)).toThrow(/<ULID>_<snake_name>\.sql/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads STABILIZE_STRICT_MIGRATIONS', () => {
    for (const v of ['1', 'true', 'YES', 'on']) expect(strictMigrationsFromEnv({ STABILIZE_STRICT_MIGRATIONS: v })).toBe(true);
    for (const v of ['', '0', 'false', 'no']) expect(strictMigrationsFromEnv({ STABILIZE_STRICT_MIGRATIONS: v })).toBe(false);
    expect(strictMigrationsFromEnv({})).toBe(false);
  });
});

describePg('migrate / migrationStatus', () => {
  const schemas: string[] = [];
  const fresh = (prefix = 'mig') => {
    const s = randomSchemaName(prefix);
    schemas.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  it('creates the schema and every table, records checksums, and is a no-op the second time', async () => {
    const schema = fresh();
    const before = await migrationStatus(PG_URL, { schema });
    expect(before.initialized).toBe(false);
    expect(before.entries.every((e) => e.state === 'pending')).toBe(true);

    const lines: string[] = [];
    const first = await migrate(PG_URL, { schema, log: (l) => lines.push(l) });
    const names = loadMigrations().map((m) => m.name);
    expect(first).toEqual({ schema, applied: names, alreadyApplied: 0, mismatches: [] });
    expect(lines).toEqual([`Target schema: ${schema}`, ...names.map((n) => `Applying: ${n}`)]);
    const tables = (await sql<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])).map((r) => r.table_name);
    expect(tables.sort()).toEqual([...REQUIRED_TABLES].sort());
    const rows = await sql<{ name: string; checksum: string }>(`SELECT name, checksum FROM "${schema}".stabilize_migrations`);
    expect(rows).toEqual(loadMigrations().map((m) => ({ name: m.name, checksum: m.checksum })));

    const second = await migrate(urlFor(schema)); // the schema from ?schema=
    expect(second).toEqual({ schema, applied: [], alreadyApplied: names.length, mismatches: [] });
    const status = await migrationStatus(urlFor(schema));
    expect(status.initialized).toBe(true);
    expect(status.entries.map((e) => [e.name, e.state])).toEqual(names.map((n) => [n, 'applied']));
    expect(status.entries.every((e) => e.appliedAt instanceof Date)).toBe(true);
  });

  it('is safe when several runs start at once (advisory lock): each migration is applied once', async () => {
    const schema = fresh();
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(PG_URL, { schema })));
    const applied = results.flatMap((r) => r.applied);
    expect(applied).toEqual(loadMigrations().map((m) => m.name));
    const [count] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".stabilize_migrations`);
    expect(count!.n).toBe(loadMigrations().length);
  });

  it('reports a changed applied file, and refuses to go on when strict', async () => {
    const schema = fresh();
    await migrate(PG_URL, { schema });
    const name = loadMigrations()[0]!.name;
    await sql(`UPDATE "${schema}".stabilize_migrations SET checksum = 'tampered' WHERE name = $1`, [name]);
    await sql(`INSERT INTO "${schema}".stabilize_migrations (name, checksum) VALUES ('01ZZZZZZZZZZZZZZZZZZZZZZZZ_from_the_future', 'x')`);
    const lines: string[] = [];
    const result = await migrate(PG_URL, { schema, strict: false, log: (l) => lines.push(l) });
    expect(result.mismatches).toEqual([name]);
    expect(lines.join('\n')).toContain(`Warning: Checksum mismatch for ${name}`);
    await expect(migrate(PG_URL, { schema, strict: true })).rejects.toBeInstanceOf(MigrationError);
    const previous = process.env.STABILIZE_STRICT_MIGRATIONS;
    process.env.STABILIZE_STRICT_MIGRATIONS = 'true';
    try {
      await expect(migrate(PG_URL, { schema })).rejects.toThrow(/Checksum mismatch/);
    } finally {
      if (previous === undefined) delete process.env.STABILIZE_STRICT_MIGRATIONS;
      else process.env.STABILIZE_STRICT_MIGRATIONS = previous;
    }
    const status = await migrationStatus(PG_URL, { schema });
    expect(status.entries.map((e) => e.state)).toEqual(['mismatch', ...Array(loadMigrations().length - 1).fill('applied'), 'unknown']);
  });

  it('rolls a failing migration back whole and keeps the earlier ones', async () => {
    const schema = fresh();
    const dir = mkdtempSync(join(tmpdir(), 'stz-mig-'));
    try {
      writeFileSync(join(dir, '01AAAAAAAAAAAAAAAAAAAAAAAA_good.sql'), '-- migrate: up\nCREATE TABLE good (id int);\n-- migrate: down\nDROP TABLE good;\n');
      writeFileSync(join(dir, '01BBBBBBBBBBBBBBBBBBBBBBBB_bad.sql'), '-- migrate: up\nCREATE TABLE half (id int);\nSELECT * FROM no_such_table;\n-- migrate: down\n');
      const error = await migrate(PG_URL, { schema, migrationsDir: dir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as MigrationError).migration).toBe('01BBBBBBBBBBBBBBBBBBBBBBBB_bad');
      expect((error as Error).message).toMatch(/no_such_table/);
      const tables = (await sql<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])).map((r) => r.table_name);
      expect(tables.sort()).toEqual(['good', 'stabilize_migrations']);
      writeFileSync(join(dir, '01BBBBBBBBBBBBBBBBBBBBBBBB_bad.sql'), '-- migrate: up\nCREATE TABLE half (id int);\n-- migrate: down\nDROP TABLE half;\n');
      expect((await migrate(PG_URL, { schema, migrationsDir: dir })).applied).toEqual(['01BBBBBBBBBBBBBBBBBBBBBBBB_bad']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an invalid schema name before connecting', async () => {
    await expect(migrate('postgres://postgres@127.0.0.1:1/x', { schema: 'bad-name' })).rejects.toThrow(/Invalid schema name/);
    await expect(migrate('postgres://postgres@127.0.0.1:1/x?schema=x;drop')).rejects.toThrow(/Invalid schema name/);
  });

  it('creates exactly the tables, columns and indexes that src/schema.ts describes', async () => {
    const schema = fresh();
    await migrate(PG_URL, { schema });
    const columns = await sql<{ table_name: string; column_name: string; data_type: string; udt_name: string; is_nullable: string }>(
      'SELECT table_name, column_name, data_type, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = $1',
      [schema],
    );
    const indexes = await sql<{ tablename: string; indexname: string }>('SELECT tablename, indexname FROM pg_indexes WHERE schemaname = $1', [schema]);
    const typeOf = (sqlType: string) =>
      ({ text: 'text', bigint: 'int8', bigserial: 'int8', integer: 'int4', boolean: 'bool', jsonb: 'jsonb', uuid: 'uuid', 'timestamp with time zone': 'timestamptz', 'text[]': '_text' })[sqlType] ?? sqlType;
    for (const table of Object.values(stabilizeTables(schema))) {
      const config = getTableConfig(table);
      expect(config.schema).toBe(schema);
      const actual = columns.filter((c) => c.table_name === config.name);
      expect(actual.map((c) => c.column_name).sort(), config.name).toEqual(config.columns.map((c) => c.name).sort());
      for (const column of config.columns) {
        const row = actual.find((c) => c.column_name === column.name)!;
        expect(row.udt_name, `${config.name}.${column.name}`).toBe(typeOf(column.getSQLType()));
        expect(row.is_nullable === 'NO', `${config.name}.${column.name} not null`).toBe(column.notNull || column.primary);
      }
      const declared = config.indexes.map((i) => i.config.name);
      const present = indexes.filter((i) => i.tablename === config.name && !i.indexname.endsWith('_pkey') && !i.indexname.endsWith('_key')).map((i) => i.indexname);
      expect(present.sort(), `${config.name} indexes`).toEqual(declared.sort());
    }
  });
});
