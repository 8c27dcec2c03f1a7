import type { ExitCode, Output } from '@stabilize/cli';

/** What every command group gets: where to write, the environment, and a way to set the exit code. */
export interface CommandContext {
  output: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
  setExitCode(code: ExitCode): void;
}
