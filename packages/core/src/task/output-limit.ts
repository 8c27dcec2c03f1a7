// The bound on what one task execution may write into its stage (issue 11): a result whose
// `context` and `outputs` together exceed `handlerConfig.maxOutputBytes` of JSON fails the task with
// OutputTooLargeError instead of writing a huge row.
import { ErrorCode, OutputTooLargeError } from '../errors.js';

/** Default of `HandlerConfig.maxOutputBytes`: 1 MiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

const isEmpty = (value: Record<string, unknown>): boolean => {
  for (const _ in value) return false;
  return true;
};

/** UTF-8 bytes of the JSON of a result's context plus outputs (0 for empty ones, without serializing). */
export function resultJsonBytes(result: { context: Record<string, unknown>; outputs: Record<string, unknown> }): number {
  let bytes = 0;
  for (const part of [result.context, result.outputs]) if (!isEmpty(part)) bytes += Buffer.byteLength(JSON.stringify(part), 'utf8');
  return bytes;
}

/** Throws OutputTooLargeError above `limitBytes`; a limit of 0 (or not a positive number) checks nothing. */
export function assertOutputSize(result: { context: Record<string, unknown>; outputs: Record<string, unknown> }, limitBytes: number): void {
  if (!(limitBytes > 0) || !Number.isFinite(limitBytes)) return;
  const bytes = resultJsonBytes(result);
  if (bytes > limitBytes) throw new OutputTooLargeError(bytes, limitBytes);
}

/** The extra fields of the error record for an output-limit failure (empty for anything else). */
export function outputLimitDetails(error: unknown): Record<string, unknown> {
  if (!(error instanceof OutputTooLargeError)) return {};
  return { error_code: ErrorCode.RESOURCE_EXHAUSTED, output_bytes: error.bytes, max_output_bytes: error.limitBytes };
}
