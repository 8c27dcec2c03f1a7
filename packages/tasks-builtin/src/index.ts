// @stabilize/tasks-builtin: ready-made tasks (shell, http, python, node, docker, ssh, sub-workflow,
// wait, noop, approval) and the helpers around them.
export { ApprovalTask, approve, getSignal, reject, type SignalOptions, type SignalTarget, sendSignal, type StageRef } from './approval.js';
export { installCancelHooks } from './cancel-hooks.js';
export {
  buildDockerArgs,
  DANGEROUS_CAPABILITIES,
  DOCKER_ACTIONS,
  DOCKER_DEFAULT_TIMEOUT_S,
  DockerConfigError,
  DockerTask,
  type DockerTaskOptions,
  parseImageId,
} from './docker.js';
export {
  CHUNK_SIZE,
  CONTENT_TYPES,
  DEFAULT_MAX_RESPONSE_SIZE,
  DEFAULT_RETRY_ON_STATUS,
  DEFAULT_TIMEOUT,
  guessContentType,
  HTTPTask,
  type HTTPTaskOptions,
  MAX_REDIRECTS,
  parseRetryAfter,
  SUPPORTED_METHODS,
} from './http.js';
export { type AgentFactory, type AgentOptions, bundledAgentFactory, type Dispatcher, type ResolvedAddress, type Resolver, SsrfBlockedError, systemResolver } from './internal/guard.js';
export { blockedAddressReason, isBlockedAddress } from './internal/ip.js';
export { isProcessAlive, liveProcessGroups } from './internal/process.js';
export { ShellSplitError, shellQuote, shellSplit } from './internal/quote.js';
export { PythonTask, type PythonTaskOptions } from './python.js';
export { BUILTIN_TASK_NAMES, type BuiltinTaskOptions, registerBuiltinTasks } from './register.js';
export { NodeScriptTask, NodeScriptTask as ScriptTask, type NodeScriptTaskOptions, typescriptExecArgv } from './script.js';
export { SHELL_DEFAULT_MAX_OUTPUT, SHELL_DEFAULT_TIMEOUT_S, SHELL_RESERVED_KEYS, ShellTask, type ShellTaskOptions, substitutePlaceholders } from './shell.js';
export { buildSshArgs, SSH_DEFAULT_CONNECT_TIMEOUT_S, SSH_DEFAULT_TIMEOUT_S, SshConfigError, SSHTask, type SSHTaskOptions } from './ssh.js';
export { SUB_WORKFLOW_DEFAULT_POLL_MS, SUB_WORKFLOW_DEFAULT_TIMEOUT_MS, type SubWorkflowSpec, type SubWorkflowStageSpec, SubWorkflowTask, type SubWorkflowTaskOptions } from './sub-workflow.js';
export { NoOpTask, WAIT_DEFAULT_TIMEOUT_MS, WaitTask } from './wait.js';
