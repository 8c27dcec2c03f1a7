import { resolve } from 'node:path';
import { ConfigurationError } from '@stabilize/core';
import { describe, expect, it } from 'vitest';
import { parseSqliteUrl } from '../src/index.js';

describe('parseSqliteUrl', () => {
  it.each(['sqlite::memory:', 'sqlite:///:memory:', 'sqlite://', ':memory:', '  sqlite::memory:  '])('%s is the in-memory database', (url) => {
    expect(parseSqliteUrl(url)).toEqual({ filename: ':memory:', memory: true, key: ':memory:' });
  });

  it('sqlite:///relative/file.db is relative to the current directory', () => {
    expect(parseSqliteUrl('sqlite:///relative/file.db')).toEqual({ filename: resolve('relative/file.db'), memory: false, key: resolve('relative/file.db') });
  });

  it('sqlite:////absolute/file.db is absolute', () => {
    expect(parseSqliteUrl('sqlite:////absolute/file.db').filename).toBe('/absolute/file.db');
  });

  it('a plain path is a file, relative or absolute', () => {
    expect(parseSqliteUrl('/tmp/x.db').filename).toBe('/tmp/x.db');
    expect(parseSqliteUrl('data/x.db').filename).toBe(resolve('data/x.db'));
  });

  it('decodes percent-escapes in URLs', () => {
    expect(parseSqliteUrl('sqlite:////tmp/my%20db.sqlite').filename).toBe('/tmp/my db.sqlite');
  });

  it('spellings of one file share one key', () => {
    const keys = new Set(['sqlite:///a/b.db', 'a/b.db', './a/b.db', `sqlite:///${resolve('a/b.db')}`, resolve('a/b.db')].map((u) => parseSqliteUrl(u).key));
    expect(keys.size).toBe(1);
  });

  it.each(['', '   ', 'sqlite://host/db.sqlite', 'sqlite:relative.db', 'sqlite:///', 'sqlite:///x.db?mode=ro', 'postgres://u@h/db', 'sqlite:///%E0%A4%A'])('rejects %j', (url) => {
    expect(() => parseSqliteUrl(url)).toThrow(ConfigurationError);
  });
});
