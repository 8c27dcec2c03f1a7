import { getTableConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteBackend, type SqliteBackend, schema } from '../src/index.js';
import { QUEUE_SQL } from '../src/queue.js';
import { STORE_SQL } from '../src/store.js';
import { tempDir } from './support/temp.js';

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: string | null;
  pk: number;
}

const allTables: SQLiteTable[] = [...schema.storeTables, ...schema.queueTables];

describe('schema: ddl.ts agrees with the drizzle tables', () => {
  const dir = tempDir();
  let backend: SqliteBackend;
  beforeAll(() => {
    backend = openSqliteBackend(dir.file());
  });
  afterAll(async () => {
    await backend.close();
    dir.remove();
  });

  const pragma = <T>(sql: string) => backend.store.database.prepare(sql).all() as T[];

  it('creates exactly the drizzle tables', () => {
    const created = pragma<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").map((r) => r.name);
    expect(created).toEqual(allTables.map((t) => getTableConfig(t).name).sort());
  });

  for (const table of allTables) {
    const config = getTableConfig(table);

    it(`${config.name}: same columns, types, nullability, defaults and primary key`, () => {
      const compositePk = config.primaryKeys[0]?.columns.map((c) => c.name) ?? [];
      const expected = config.columns.map((c) => {
        const pkIndex = c.primary ? 1 : compositePk.indexOf(c.name) + 1;
        const dflt = c.default === undefined ? null : typeof c.default === 'string' ? `'${c.default}'` : String(c.default);
        return { name: c.name, type: c.getSQLType().toUpperCase(), notnull: c.notNull, dflt_value: dflt, pk: pkIndex };
      });
      const actual = pragma<ColumnInfo>(`PRAGMA table_info(${config.name})`).map((c) => ({
        name: c.name,
        type: c.type,
        // An INTEGER PRIMARY KEY is the rowid: never null although table_info says nullable.
        notnull: c.notnull === 1 || (c.pk === 1 && c.type === 'INTEGER'),
        dflt_value: c.dflt_value,
        pk: c.pk,
      }));
      expect(actual).toEqual(expected);
    });

    it(`${config.name}: same indexes`, () => {
      const expected = config.indexes
        .map((i) => ({ name: i.config.name, unique: i.config.unique, columns: i.config.columns.map((c) => (c as { name: string }).name) }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const actual = pragma<{ name: string; unique: number; origin: string }>(`PRAGMA index_list(${config.name})`)
        .filter((i) => i.origin === 'c')
        .map((i) => ({ name: i.name, unique: i.unique === 1, columns: pragma<{ name: string }>(`PRAGMA index_info(${i.name})`).map((c) => c.name) }))
        .sort((a, b) => a.name.localeCompare(b.name));
      expect(actual).toEqual(expected);
    });

    it(`${config.name}: same foreign keys`, () => {
      const expected = config.foreignKeys.map((fk) => {
        const ref = fk.reference();
        return { table: getTableConfig(ref.foreignTable).name, from: ref.columns[0]!.name, to: ref.foreignColumns[0]!.name, on_delete: (fk.onDelete ?? 'no action').toUpperCase() };
      });
      const actual = pragma<{ table: string; from: string; to: string; on_delete: string }>(`PRAGMA foreign_key_list(${config.name})`).map((f) => ({ table: f.table, from: f.from, to: f.to, on_delete: f.on_delete }));
      expect(actual).toEqual(expected);
    });
  }

  it('hot queries read through indexes (no table scans, no sorting of whole tables)', () => {
    const db = backend.store.database;
    const bad: string[] = [];
    for (const [name, sql] of Object.entries({ ...STORE_SQL, ...QUEUE_SQL })) {
      const named = [...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!);
      const args = named.length > 0 ? [Object.fromEntries(named.map((n) => [n, null]))] : new Array((sql.match(/\?/g) ?? []).length).fill(null);
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((p) => p.detail);
      // COUNT(*) must visit every row; nextIdle walks the deliver_at index and stops at the first idle row.
      if (name === 'size' || name === 'nextIdle') continue;
      if (plan.some((d) => /^SCAN (?!json_each)/.test(d))) bad.push(`${name}: ${plan.join(' | ')}`);
    }
    expect(bad).toEqual([]);
  });
});
