import type { Logger, Queue, TaskRegistry, WorkflowStore } from '@stabilize/core';
import { ApprovalTask } from './approval.js';
import { DockerTask, type DockerTaskOptions } from './docker.js';
import { HTTPTask, type HTTPTaskOptions } from './http.js';
import { PythonTask, type PythonTaskOptions } from './python.js';
import { NodeScriptTask, type NodeScriptTaskOptions } from './script.js';
import { ShellTask, type ShellTaskOptions } from './shell.js';
import { SSHTask, type SSHTaskOptions } from './ssh.js';
import { SubWorkflowTask, type SubWorkflowTaskOptions } from './sub-workflow.js';
import { NoOpTask, WaitTask } from './wait.js';

export interface BuiltinTaskOptions {
  /** Store and queue for SubWorkflowTask (children are stored and queued there). */
  store?: WorkflowStore;
  queue?: Queue;
  /** Debug logging of the tasks that log (commands are masked). */
  logger?: Logger;
  shell?: ShellTaskOptions;
  http?: HTTPTaskOptions;
  python?: PythonTaskOptions;
  node?: NodeScriptTaskOptions;
  docker?: DockerTaskOptions;
  ssh?: SSHTaskOptions;
  subWorkflow?: Omit<SubWorkflowTaskOptions, 'store' | 'queue'>;
  /** Throw instead of replacing a task already registered under one of the names. */
  strict?: boolean;
}

/** Registry names of the built-in tasks (aliases in parentheses are registered too). */
export const BUILTIN_TASK_NAMES = {
  shell: 'shell', // (ShellTask)
  http: 'http', // (HTTPTask)
  python: 'python', // (PythonTask)
  node: 'node', // (script, NodeScriptTask, ScriptTask)
  docker: 'docker', // (DockerTask)
  ssh: 'ssh', // (SSHTask)
  subWorkflow: 'sub_workflow', // (subWorkflow, childWorkflow, SubWorkflowTask)
  wait: 'wait', // (WaitTask)
  noop: 'noop', // (NoOpTask)
  approval: 'approval', // (human_approval, hitl_approval, ApprovalTask)
} as const;

/**
 * Registers every built-in task under its upstream name and aliases. The instances are shared by
 * all executions (they keep no per-execution state).
 */
export function registerBuiltinTasks(registry: TaskRegistry, options: BuiltinTaskOptions = {}): TaskRegistry {
  const { logger, strict } = options;
  const withLogger = <T extends object>(o: T | undefined): T => ({ ...(logger ? { logger } : {}), ...(o ?? {}) }) as T;
  const register = (name: string, task: Parameters<TaskRegistry['register']>[1]) => registry.register(name, task, { strict });
  register(BUILTIN_TASK_NAMES.shell, new ShellTask(withLogger(options.shell)));
  register(BUILTIN_TASK_NAMES.http, new HTTPTask(withLogger(options.http)));
  register(BUILTIN_TASK_NAMES.python, new PythonTask(options.python));
  register(BUILTIN_TASK_NAMES.node, new NodeScriptTask(options.node));
  register(BUILTIN_TASK_NAMES.docker, new DockerTask(withLogger(options.docker)));
  register(BUILTIN_TASK_NAMES.ssh, new SSHTask(withLogger(options.ssh)));
  register(BUILTIN_TASK_NAMES.subWorkflow, new SubWorkflowTask({ ...options.subWorkflow, store: options.store, queue: options.queue }));
  register(BUILTIN_TASK_NAMES.wait, new WaitTask());
  register(BUILTIN_TASK_NAMES.noop, new NoOpTask());
  register(BUILTIN_TASK_NAMES.approval, new ApprovalTask());
  return registry;
}
