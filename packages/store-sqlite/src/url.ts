import { resolve } from 'node:path';
import { ConfigurationError } from '@stabilize/core';

/** Where a SQLite URL points. `key` identifies the database within this process. */
export interface SqliteLocation {
  /** What better-sqlite3 opens: an absolute file path or ':memory:'. */
  filename: string;
  memory: boolean;
  key: string;
}

const MEMORY: SqliteLocation = { filename: ':memory:', memory: true, key: ':memory:' };

/**
 * Accepted forms:
 * - `sqlite::memory:`, `sqlite:///:memory:`, `sqlite://`, `:memory:` → one in-memory database per process
 * - `sqlite:///relative/file.db` → relative to the current directory
 * - `sqlite:////absolute/file.db` → `/absolute/file.db`
 * - a plain file path (relative or absolute)
 * Relative paths are resolved when the URL is parsed, so the same file always gets the same key.
 */
export function parseSqliteUrl(url: string): SqliteLocation {
  if (typeof url !== 'string' || url.trim() === '') throw new ConfigurationError('A SQLite URL or file path is required');
  const text = url.trim();
  if (text === ':memory:' || text === 'sqlite::memory:' || text === 'sqlite://') return MEMORY;
  if (text.startsWith('sqlite:')) {
    if (!text.startsWith('sqlite:///')) {
      throw new ConfigurationError(`Unsupported SQLite URL '${url}': use sqlite:///relative/file.db, sqlite:////absolute/file.db or sqlite::memory:`);
    }
    if (text.includes('?')) throw new ConfigurationError(`SQLite URL '${url}' has query parameters, which are not supported`);
    let path: string;
    try {
      path = decodeURIComponent(text.slice('sqlite:///'.length));
    } catch {
      throw new ConfigurationError(`SQLite URL '${url}' is not correctly percent-encoded`);
    }
    if (path === ':memory:') return MEMORY;
    if (path === '') throw new ConfigurationError(`SQLite URL '${url}' names no file`);
    return fileLocation(path);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new ConfigurationError(`'${url}' is not a SQLite URL`);
  return fileLocation(text);
}

function fileLocation(path: string): SqliteLocation {
  const filename = resolve(path);
  return { filename, memory: false, key: filename };
}
