import { ConfigurationError, TaskNotFoundError } from '../errors.js';
import type { Task, TaskClass, TaskFunction } from './task.js';

type Entry = { kind: 'class'; ctor: TaskClass } | { kind: 'instance'; task: Task };

export interface RegisterOptions {
  aliases?: readonly string[];
  /** Throw instead of replacing an existing registration. */
  strict?: boolean;
}

function isClass(value: unknown): value is TaskClass {
  return typeof value === 'function' && typeof (value as { prototype?: { execute?: unknown } }).prototype?.execute === 'function';
}

/**
 * Maps task type names (a TaskExecution's `implementingClass`) to implementations: a class (a new
 * instance per execution), an instance (shared) or a plain function.
 */
export class TaskRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly aliases = new Map<string, string>();

  register(name: string, implementation: TaskClass | Task | TaskFunction, options: RegisterOptions = {}): this {
    if (typeof name !== 'string' || name.length === 0) throw new ConfigurationError('A task must be registered under a non-empty name');
    if (this.entries.has(name) && options.strict) throw new ConfigurationError(`Task '${name}' is already registered`);
    let entry: Entry;
    let ownAliases: readonly string[] = [];
    if (isClass(implementation)) {
      entry = { kind: 'class', ctor: implementation };
      ownAliases = new implementation().aliases ?? [];
    } else if (typeof implementation === 'function') {
      const fn = implementation as TaskFunction;
      entry = { kind: 'instance', task: { execute: (stage, ctx) => fn(stage, ctx) } };
    } else if (implementation && typeof (implementation as Task).execute === 'function') {
      entry = { kind: 'instance', task: implementation as Task };
      ownAliases = (implementation as Task).aliases ?? [];
    } else {
      throw new ConfigurationError(`Task '${name}' must be a class, an object with execute(), or a function`);
    }
    this.entries.set(name, entry);
    for (const alias of [...(options.aliases ?? []), ...ownAliases]) this.aliases.set(alias, name);
    return this;
  }

  has(name: string): boolean {
    return this.entries.has(name) || this.aliases.has(name);
  }

  /** Resolves a name or alias; a class is instantiated anew. Throws TaskNotFoundError. */
  get(name: string): Task {
    const entry = this.entries.get(name) ?? this.entries.get(this.aliases.get(name) ?? '');
    if (!entry) throw new TaskNotFoundError(name);
    return entry.kind === 'class' ? new entry.ctor() : entry.task;
  }

  /**
   * Resolution used for a TaskExecution's implementingClass: exact name or alias, then the part
   * after the last '.', then that part lower-cased (so 'my.module.HelloTask' finds 'hellotask').
   */
  resolve(implementingClass: string): Task {
    if (this.has(implementingClass)) return this.get(implementingClass);
    const tail = implementingClass.slice(implementingClass.lastIndexOf('.') + 1);
    if (this.has(tail)) return this.get(tail);
    if (this.has(tail.toLowerCase())) return this.get(tail.toLowerCase());
    throw new TaskNotFoundError(implementingClass);
  }

  listTasks(): string[] {
    return [...this.entries.keys()];
  }

  unregister(name: string): boolean {
    for (const [alias, target] of this.aliases) if (target === name) this.aliases.delete(alias);
    return this.entries.delete(name);
  }

  clear(): void {
    this.entries.clear();
    this.aliases.clear();
  }
}
