import { randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { once } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { type Context, type Logger, type StageExecution, type Task, type TaskContext, TaskResult, TransientError } from '@stabilize/core';
import { hasTraversal, isPlainObject, MiB, numberOr, pyList, renderValue, SecretMasker, truthy } from './internal/context.js';
import { AddressGuard, type AgentFactory, bundledAgentFactory, type Dispatcher, type Resolver, SsrfBlockedError, systemResolver, UrlError } from './internal/guard.js';

export const DEFAULT_TIMEOUT = 30;
export const DEFAULT_MAX_RESPONSE_SIZE = 10 * MiB;
/** Statuses retried when `retries` > 0 (upstream: 502, 503, 504; 429 added, see README). */
export const DEFAULT_RETRY_ON_STATUS: readonly number[] = [429, 502, 503, 504];
export const CHUNK_SIZE = 8192;
export const SUPPORTED_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
export const MAX_REDIRECTS = 10;

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.css': 'text/css',
  '.csv': 'text/csv',
  '.js': 'application/javascript',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.mp3': 'audio/mpeg',
  '.mp4': 'video/mp4',
};

/** MIME type for a file name by extension; `application/octet-stream` when unknown. */
export function guessContentType(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export interface HTTPTaskOptions {
  /** Turn the SSRF guard off for every request of this task (the context key `allow_private_urls` does it per stage). */
  allowPrivateUrls?: boolean;
  /** Host names allowed to resolve to private addresses while the guard stays on for all others. */
  allowedPrivateHosts?: readonly string[];
  /** DNS resolution used by the guard and for connecting (default: the system resolver). */
  resolver?: Resolver;
  /** Creates the undici Agent that carries the pinned lookup and TLS options (default: Node's own undici). */
  agentFactory?: AgentFactory;
  /** Longest `Retry-After` honoured, in ms (default 1 hour). */
  maxRetryAfterMs?: number;
  logger?: Logger;
}

/**
 * Context keys an HTTP stage may take from its ancestors' outputs. `url` is required, so a stage sets
 * its own; an own `url` equal to the one an upstream HTTP stage reported (a POST, then a GET of the
 * same resource) cannot be told apart from an inherited one, so it is always read. `secrets` only
 * adds masking.
 */
export const HTTP_INHERITABLE_KEYS: ReadonlySet<string> = new Set(['url', 'secrets']);

/**
 * The stage's context as HTTP settings: without the keys whose value is still exactly what planning
 * merged in from the ancestors' outputs (`stage.ancestorOutputs`), except `HTTP_INHERITABLE_KEYS`.
 * An upstream HTTP stage outputs `headers` and `body`, which are also inputs of this task; without
 * this, a downstream HTTP stage sent the previous response's headers and body as its own request.
 * Upstream values still reach the request through `{placeholders}`, which read the whole context.
 * A stage that was never planned by the engine (`ancestorOutputs` null) keeps its whole context.
 */
export function ownHttpSettings(stage: Pick<StageExecution, 'context' | 'ancestorOutputs'>): Context {
  const settings: Context = { ...stage.context };
  for (const [key, inherited] of Object.entries(stage.ancestorOutputs ?? {})) {
    if (!HTTP_INHERITABLE_KEYS.has(key) && Object.hasOwn(settings, key) && isDeepStrictEqual(settings[key], inherited)) delete settings[key];
  }
  return settings;
}

const PLACEHOLDER = /\{(\w+)\}/g;

function substitute(template: string, context: Context): string {
  return template.replace(PLACEHOLDER, (match, key: string) => {
    const value = context[key];
    return Object.hasOwn(context, key) && value !== null && value !== undefined ? renderValue(value) : match;
  });
}

/** Request built from the context, before it is sent. */
interface PreparedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

class RequestBuildError extends Error {}

/** `Retry-After` (seconds or HTTP date) in ms, or undefined. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function multipartName(text: string): string {
  return text.replaceAll('"', '%22').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

function buildMultipart(fields: Record<string, unknown>, field: string, filename: string, content: Buffer, contentType: string): { body: Buffer; boundary: string } {
  const boundary = randomUUID().replaceAll('-', '');
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${multipartName(key)}"\r\n\r\n${renderValue(value)}\r\n`));
  }
  parts.push(
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${multipartName(field)}"; filename="${multipartName(filename)}"\r\nContent-Type: ${contentType}\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { body: Buffer.concat(parts), boundary };
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  const lower = name.toLowerCase();
  return Object.keys(headers).some((k) => k.toLowerCase() === lower);
}

function deleteHeader(headers: Record<string, string>, name: string): void {
  const lower = name.toLowerCase();
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lower) delete headers[key];
}

function charsetOf(contentType: string): string {
  const match = /charset=("?)([^";\s]+)\1/i.exec(contentType);
  return match?.[2] ?? 'utf-8';
}

function decode(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Walks an error's cause chain. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current = error;
  for (let i = 0; i < 8 && current !== null && current !== undefined; i++) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** Upstream message for a request that got no response. */
function connectionErrorMessage(error: unknown): string {
  const chain = causes(error);
  const ssrf = chain.find((e) => e instanceof SsrfBlockedError) as SsrfBlockedError | undefined;
  if (ssrf) return ssrf.message;
  for (const e of chain) {
    const name = (e as { name?: unknown }).name;
    const code = (e as { code?: unknown }).code;
    if (name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code))) return 'Request timed out';
  }
  const errno = chain.find((e) => e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && !(e as NodeJS.ErrnoException).code!.startsWith('UND_ERR')) as Error | undefined;
  if (errno) return `URL error: ${errno.message}`;
  const last = chain[chain.length - 1];
  if (last instanceof Error && last !== error) return `URL error: ${last.message}`;
  return `Connection error: ${error instanceof Error ? error.message : String(error)}`;
}

/** Reads a body stream up to `max` bytes; `sink` receives chunks instead of collecting them. */
async function readCapped(body: ReadableStream<Uint8Array> | null, max: number, sink?: (chunk: Uint8Array) => Promise<void>): Promise<{ bytes: Buffer; size: number; exceeded: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (!body) return { bytes: Buffer.alloc(0), size, exceeded: false };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => undefined);
        return { bytes: Buffer.concat(chunks), size, exceeded: true };
      }
      if (sink) await sink(value);
      else chunks.push(Buffer.from(value));
    }
  } finally {
    reader.releaseLock();
  }
  return { bytes: Buffer.concat(chunks), size, exceeded: false };
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * HTTP requests on Node's fetch with the upstream context keys, an SSRF guard on by default (with
 * DNS pinning) and retries handed back to the engine. Registered as `http`. See the package README.
 */
export class HTTPTask implements Task {
  readonly aliases = ['HTTPTask'];
  private readonly resolver: Resolver;
  private readonly agentFactory: AgentFactory;

  constructor(private readonly options: HTTPTaskOptions = {}) {
    this.resolver = options.resolver ?? systemResolver;
    this.agentFactory = options.agentFactory ?? bundledAgentFactory;
  }

  async execute(stage: StageExecution, ctx: TaskContext): Promise<TaskResult> {
    // Settings come from the stage's own context; placeholders and secret values read all of it.
    const vars = stage.context;
    const c = ownHttpSettings(stage);
    const masker = SecretMasker.fromContext(vars, c.secrets, (v) => [encodeURIComponent(v)]);
    if (typeof c.url !== 'string' || c.url === '') return TaskResult.terminal("No 'url' specified in context");
    const method = (typeof c.method === 'string' ? c.method : 'GET').toUpperCase();
    if (!SUPPORTED_METHODS.has(method)) {
      return TaskResult.terminal(`Unsupported method '${method}'. Supported: ${pyList([...SUPPORTED_METHODS].sort())}`);
    }
    const continueOnFailure = truthy(c.continue_on_failure);
    const timeoutS = numberOr(c.timeout, DEFAULT_TIMEOUT);
    const maxSize = numberOr(c.max_response_size, DEFAULT_MAX_RESPONSE_SIZE);
    const parseJson = truthy(c.parse_json);
    const downloadTo = typeof c.download_to === 'string' && c.download_to !== '' ? c.download_to : undefined;
    const retryOn = Array.isArray(c.retry_on_status) ? c.retry_on_status.filter((v): v is number => Number.isInteger(v)) : DEFAULT_RETRY_ON_STATUS;
    const idempotent = method !== 'POST' && method !== 'PATCH';
    const retryNonIdempotent = c.retry_non_idempotent === undefined || c.retry_non_idempotent === null ? true : truthy(c.retry_non_idempotent);
    const retries = !idempotent && !retryNonIdempotent ? 0 : Math.max(0, Math.floor(numberOr(c.retries, 0)));
    const retryDelayMs = Math.max(0, numberOr(c.retry_delay, 1)) * 1000;
    const canRetry = ctx.attempt <= retries;
    const backoff = () => {
      const base = Math.min(retryDelayMs * 2 ** (ctx.attempt - 1), retryDelayMs * 10);
      return Math.round(base * (1 + (Math.random() * 2 - 1) * 0.1));
    };
    const guardOn = !(this.options.allowPrivateUrls || truthy(c.allow_private_urls) || truthy(c.allowPrivateUrls));
    const allowedHosts = new Set([...(this.options.allowedPrivateHosts ?? []), ...(Array.isArray(c.allowed_private_hosts) ? c.allowed_private_hosts : [])].map((h) => String(h).toLowerCase()));

    let request: PreparedRequest;
    try {
      if (downloadTo !== undefined && hasTraversal(downloadTo)) throw new RequestBuildError(`Path traversal blocked in download_to: ${downloadTo}`);
      request = this.prepare(c, vars, method);
    } catch (error) {
      if (error instanceof RequestBuildError) return TaskResult.terminal(masker.mask(error.message));
      throw error;
    }
    const display = (u: string) => masker.mask(u);
    this.options.logger?.debug('HTTPTask request', { method, url: display(request.url), attempt: ctx.attempt });

    const guard = new AddressGuard({ enabled: guardOn, resolver: this.resolver, allowedHosts, describe: display });
    let agent: Dispatcher;
    try {
      agent = this.agentFactory({
        connect: {
          lookup: guard.lookup,
          timeout: timeoutS * 1000,
          rejectUnauthorized: c.verify_ssl === undefined || c.verify_ssl === null ? true : truthy(c.verify_ssl),
          ...(typeof c.ca_cert === 'string' ? { ca: readFileSync(c.ca_cert) } : {}),
          ...(typeof c.client_cert === 'string' ? { cert: readFileSync(c.client_cert) } : {}),
          ...(typeof c.client_key === 'string' ? { key: readFileSync(c.client_key) } : {}),
        },
        headersTimeout: timeoutS * 1000,
        bodyTimeout: timeoutS * 1000,
      });
    } catch (error) {
      return TaskResult.terminal(masker.mask(`Connection error: ${(error as Error).message}`));
    }

    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      let response: Response;
      let finalUrl: string;
      try {
        ({ response, url: finalUrl } = await this.send(request, guard, agent, ctx.signal));
      } catch (error) {
        if (ctx.signal.aborted) return TaskResult.canceled({ context: { error: 'Request canceled' } });
        if (error instanceof UrlError) return TaskResult.terminal(masker.mask(error.message.startsWith('Cannot') ? error.message : `URL error: ${error.message}`), { context: { url: display(request.url) } });
        const blocked = causes(error).find((e) => e instanceof SsrfBlockedError);
        if (blocked) return TaskResult.terminal(masker.mask((blocked as Error).message), { context: { url: display(request.url) } });
        const message = masker.mask(connectionErrorMessage(error));
        if (canRetry) throw new TransientError(message, { retryAfterMs: backoff() });
        const data = { elapsed_ms: elapsed(), url: display(request.url) };
        return continueOnFailure ? TaskResult.failedContinue(message, { outputs: data }) : TaskResult.terminal(message, { context: data });
      }
      const elapsedMs = elapsed();
      const status = response.status;
      if (retryOn.includes(status) && canRetry) {
        await response.body?.cancel().catch(() => undefined);
        const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
        const delay = retryAfter !== undefined ? Math.min(retryAfter, this.options.maxRetryAfterMs ?? 3_600_000) : backoff();
        throw new TransientError(`HTTP ${status}`, { retryAfterMs: delay });
      }

      const headers = Object.fromEntries(response.headers.entries());
      const contentType = response.headers.get('content-type') ?? '';
      const url = display(finalUrl);
      let body: string;
      let contentLength: number;
      let read: { bytes: Buffer; size: number; exceeded: boolean };
      try {
        if (method === 'HEAD') {
          await response.body?.cancel().catch(() => undefined);
          read = { bytes: Buffer.alloc(0), size: 0, exceeded: false };
        } else if (downloadTo !== undefined) {
          read = await this.download(response, downloadTo, maxSize);
        } else {
          read = await readCapped(response.body, maxSize);
        }
      } catch (error) {
        if (ctx.signal.aborted) return TaskResult.canceled({ context: { error: 'Request canceled' } });
        const message = masker.mask(connectionErrorMessage(error));
        const data = { elapsed_ms: elapsedMs, url };
        return continueOnFailure ? TaskResult.failedContinue(message, { outputs: data }) : TaskResult.terminal(message, { context: data });
      }
      if (read.exceeded) {
        const message = `Response exceeds max size (${maxSize} bytes)`;
        return continueOnFailure ? TaskResult.failedContinue(message, { outputs: { status_code: status, url } }) : TaskResult.terminal(message);
      }
      if (downloadTo !== undefined && method !== 'HEAD') {
        body = downloadTo;
        contentLength = read.size;
      } else {
        body = decode(read.bytes, charsetOf(contentType));
        contentLength = read.size;
      }
      const outputs: Context = { status_code: status, headers, body, elapsed_ms: elapsedMs, url, content_type: contentType, content_length: contentLength };
      if (parseJson && downloadTo === undefined && method !== 'HEAD') {
        try {
          outputs.body_json = JSON.parse(body);
        } catch {
          // not JSON: body_json stays absent
        }
      }
      const expected = c.expected_status === undefined || c.expected_status === null ? null : (Array.isArray(c.expected_status) ? c.expected_status : [c.expected_status]).map(Number);
      const ok = expected !== null ? expected.includes(status) : status >= 200 && status < 300;
      if (ok) return TaskResult.success({ outputs });
      const message = expected !== null ? `Unexpected status ${status}, expected ${pyList(expected)}` : `HTTP ${status}`;
      return continueOnFailure ? TaskResult.failedContinue(message, { outputs }) : TaskResult.terminal(message, { context: outputs });
    } finally {
      await agent.destroy().catch(() => undefined);
    }
  }

  /**
   * Builds method, URL, headers and body from the settings `c`; placeholders are replaced from
   * `vars` (the whole context). Throws RequestBuildError.
   */
  private prepare(c: Context, vars: Context, method: string): PreparedRequest {
    const url = substitute(c.url as string, vars);
    const headers: Record<string, string> = {};
    if (isPlainObject(c.headers)) {
      for (const [key, value] of Object.entries(c.headers)) if (value !== null && value !== undefined) headers[key] = substitute(renderValue(value), vars);
    }
    if (Array.isArray(c.auth) && c.auth.length === 2) {
      headers.Authorization = `Basic ${Buffer.from(`${renderValue(c.auth[0])}:${renderValue(c.auth[1])}`).toString('base64')}`;
    }
    if (typeof c.bearer_token === 'string' && c.bearer_token !== '') {
      deleteHeader(headers, 'Authorization');
      headers.Authorization = `Bearer ${substitute(c.bearer_token, vars)}`;
    }
    let body: Buffer | undefined;
    if (typeof c.upload_file === 'string' && c.upload_file !== '') {
      const path = c.upload_file;
      if (hasTraversal(path)) throw new RequestBuildError(`Path traversal blocked in upload_file: ${path}`);
      let content: Buffer;
      try {
        if (!statSync(path).isFile()) throw new Error('not a file');
        content = readFileSync(path);
      } catch {
        throw new RequestBuildError(`File not found: Upload file not found: ${path}`);
      }
      const field = typeof c.upload_field === 'string' && c.upload_field !== '' ? c.upload_field : 'file';
      const filename = typeof c.upload_filename === 'string' && c.upload_filename !== '' ? c.upload_filename : basename(path);
      const multipart = buildMultipart(isPlainObject(c.upload_form) ? c.upload_form : {}, field, filename, content, guessContentType(path));
      body = multipart.body;
      deleteHeader(headers, 'Content-Type');
      headers['Content-Type'] = `multipart/form-data; boundary=${multipart.boundary}`;
    } else if (c.json !== undefined && c.json !== null) {
      body = Buffer.from(JSON.stringify(c.json), 'utf8');
      if (!hasHeader(headers, 'Content-Type')) headers['Content-Type'] = 'application/json';
    } else if (isPlainObject(c.form) && truthy(c.form)) {
      const form = new URLSearchParams();
      for (const [key, value] of Object.entries(c.form)) {
        if (Array.isArray(value)) for (const v of value) form.append(key, renderValue(v));
        else if (value !== null && value !== undefined) form.append(key, renderValue(value));
      }
      body = Buffer.from(form.toString(), 'utf8');
      if (!hasHeader(headers, 'Content-Type')) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else if (c.body !== undefined && c.body !== null) {
      body = Buffer.from(typeof c.body === 'string' ? substitute(c.body, vars) : renderValue(c.body), 'utf8');
    }
    return { url, method, headers, body };
  }

  /** Sends the request, following redirects by hand so that every hop passes the SSRF guard. */
  private async send(request: PreparedRequest, guard: AddressGuard, agent: Dispatcher, signal: AbortSignal): Promise<{ response: Response; url: string }> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      throw new UrlError(`invalid URL '${request.url}'`);
    }
    let method = request.method;
    let body = request.body;
    const headers = { ...request.headers };
    for (let hop = 0; ; hop++) {
      await guard.vet(url);
      const response = await fetch(url, { method, headers, body, redirect: 'manual', signal, dispatcher: agent } as RequestInit);
      const location = response.headers.get('location');
      const follow =
        REDIRECT_STATUSES.has(response.status) &&
        location !== null &&
        (method === 'GET' || method === 'HEAD' || (method === 'POST' && response.status <= 303));
      if (!follow) return { response, url: url.href };
      await response.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS) throw new UrlError(`too many redirects (more than ${MAX_REDIRECTS})`);
      const next = new URL(location!, url);
      if (method === 'POST') {
        method = 'GET';
        body = undefined;
        deleteHeader(headers, 'Content-Type');
        deleteHeader(headers, 'Content-Length');
      }
      if (next.origin !== url.origin) {
        for (const name of ['Authorization', 'Cookie', 'Proxy-Authorization']) deleteHeader(headers, name);
      }
      url = next;
    }
  }

  /** Streams the body into `path`; a partial file is removed when the size cap is passed. */
  private async download(response: Response, path: string, maxSize: number): Promise<{ bytes: Buffer; size: number; exceeded: boolean }> {
    const file = createWriteStream(path);
    await once(file, 'open');
    let result: { bytes: Buffer; size: number; exceeded: boolean };
    try {
      result = await readCapped(response.body, maxSize, async (chunk) => {
        if (!file.write(chunk)) await once(file, 'drain');
      });
    } catch (error) {
      file.destroy();
      rmSync(path, { force: true });
      throw error;
    }
    file.end();
    await once(file, 'close');
    if (result.exceeded) rmSync(path, { force: true });
    return result;
  }
}
