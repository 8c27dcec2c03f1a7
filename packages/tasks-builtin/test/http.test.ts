import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, WorkflowStatus } from '@stabilize/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guessContentType, parseRetryAfter, type Resolver } from '../src/index.js';
import { createEngine, type Engine, runTask, startServer, type TestServer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'stabilize-http-'));
let server: TestServer;
/** Engine clock time of each request, for the retry timing checks. */
const hits = new Map<string, number[]>();
let clock = new ManualClock();

beforeAll(async () => {
  server = await startServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    hits.set(path, [...(hits.get(path) ?? []), clock.now()]);
    const count = hits.get(path)!.length;
    if (path === '/ok') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
    } else if (path === '/json') {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' }).end('{"a":1,"list":[1,2]}');
    } else if (path === '/echo') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ method: req.method, headers: req.headers, body: req.body.toString('utf8') }));
    } else if (path.startsWith('/status/')) {
      res.writeHead(Number(path.slice(8)), { 'Content-Type': 'text/plain' }).end(`status ${path.slice(8)}`);
    } else if (path === '/head') {
      res.writeHead(200, { 'X-Custom': 'visible', 'Content-Type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'body');
    } else if (path === '/options') {
      res.writeHead(200, { Allow: 'GET, POST, OPTIONS' }).end();
    } else if (path === '/delete') {
      res.writeHead(204).end();
    } else if (path === '/redirect') {
      res.writeHead(302, { Location: '/redirected' }).end('moved');
    } else if (path === '/redirected') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('Redirected!');
    } else if (path === '/redirect-to') {
      res.writeHead(302, { Location: url.searchParams.get('to') ?? '/' }).end();
    } else if (path === '/always503' || path === '/post503') {
      res.writeHead(503).end('unavailable');
    } else if (path === '/retry-after') {
      if (count === 1) res.writeHead(429, { 'Retry-After': '2' }).end('slow down');
      else res.writeHead(200).end('finally');
    } else if (path === '/big') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(Buffer.alloc(1024 * 1024, 97));
    } else if (path === '/slow') {
      setTimeout(() => res.writeHead(200).end('late'), 3000);
    } else if (path === '/latin1') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=iso-8859-1' }).end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    } else {
      res.writeHead(404).end('not found');
    }
  });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An engine whose clock the server reads, so retry delays can be measured in engine time. */
function engine(options: Parameters<typeof createEngine>[0] = {}): Engine {
  clock = new ManualClock();
  return createEngine({ clock, ...options });
}

const local = (context: Record<string, unknown>) => ({ allow_private_urls: true, ...context });
const requestsTo = (path: string) => server.requests.filter((r) => new URL(r.url, 'http://x').pathname === path);

describe('HTTPTask requests (§8 scenarios 16-27)', () => {
  it('16: GET returns body, status and timing; parse_json adds body_json', async () => {
    const s = await runTask('http', local({ url: `${server.url}/ok` }), engine());
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs).toMatchObject({ status_code: 200, body: 'OK', content_type: 'text/plain', content_length: 2, url: `${server.url}/ok` });
    expect(typeof s.outputs.elapsed_ms).toBe('number');
    expect((s.outputs.headers as Record<string, string>)['content-type']).toBe('text/plain');
    const j = await runTask('http', local({ url: `${server.url}/json`, parse_json: true }), engine());
    expect(j.outputs.body_json).toEqual({ a: 1, list: [1, 2] });
    expect(j.outputs.content_type).toContain('application/json');
    const noParse = await runTask('http', local({ url: `${server.url}/ok`, parse_json: true }), engine());
    expect(noParse.outputs).not.toHaveProperty('body_json');
  });

  it('16b: the body is decoded with the charset of the response', async () => {
    const s = await runTask('http', local({ url: `${server.url}/latin1` }), engine());
    expect(s.outputs.body).toBe('café');
  });

  it('17: JSON, form, PUT, PATCH, DELETE, HEAD and OPTIONS', async () => {
    const json = await runTask('http', local({ url: `${server.url}/echo`, method: 'post', json: { k: 'v', n: 1 }, parse_json: true }), engine());
    const seen = json.outputs.body_json as { method: string; headers: Record<string, string>; body: string };
    expect(seen.method).toBe('POST');
    expect(seen.headers['content-type']).toBe('application/json');
    expect(JSON.parse(seen.body)).toEqual({ k: 'v', n: 1 });

    const form = await runTask('http', local({ url: `${server.url}/echo`, method: 'POST', form: { a: '1', b: 'two words' }, parse_json: true }), engine());
    const formSeen = form.outputs.body_json as typeof seen;
    expect(formSeen.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(formSeen.body))).toEqual({ a: '1', b: 'two words' });

    for (const method of ['PUT', 'PATCH']) {
      const r = await runTask('http', local({ url: `${server.url}/echo`, method, body: 'payload {x}', x: 42, parse_json: true }), engine());
      expect(r.outputs.body_json).toMatchObject({ method, body: 'payload 42' });
    }
    const del = await runTask('http', local({ url: `${server.url}/delete`, method: 'DELETE' }), engine());
    expect(del.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(del.outputs).toMatchObject({ status_code: 204, body: '' });

    const head = await runTask('http', local({ url: `${server.url}/head`, method: 'HEAD' }), engine());
    expect(head.outputs).toMatchObject({ status_code: 200, body: '', content_length: 0 });
    expect((head.outputs.headers as Record<string, string>)['x-custom']).toBe('visible');

    const options = await runTask('http', local({ url: `${server.url}/options`, method: 'OPTIONS' }), engine());
    expect((options.outputs.headers as Record<string, string>).allow).toBe('GET, POST, OPTIONS');
  });

  it('18: basic auth and a bearer token with a placeholder', async () => {
    const basic = await runTask('http', local({ url: `${server.url}/echo`, auth: ['user', 'password'], parse_json: true }), engine());
    const auth = (basic.outputs.body_json as { headers: Record<string, string> }).headers.authorization!;
    expect(Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString()).toBe('user:password');

    const bearer = await runTask(
      'http',
      local({ url: `${server.url}/echo`, auth: ['user', 'password'], bearer_token: '{api_key}', api_key: 'secret-key-123', headers: { 'X-Trace': 'id-{n}' }, n: 7, parse_json: true }),
      engine(),
    );
    const headers = (bearer.outputs.body_json as { headers: Record<string, string> }).headers;
    expect(headers.authorization).toBe('Bearer secret-key-123');
    expect(headers['x-trace']).toBe('id-7');
  });

  it('19: multipart upload, download to a file, and a missing upload file', async () => {
    const file = join(dir, 'upload.txt');
    writeFileSync(file, 'file-content');
    const up = await runTask('http', local({ url: `${server.url}/echo`, method: 'POST', upload_file: file, upload_field: 'doc', upload_form: { note: 'hello' }, parse_json: true }), engine());
    const seen = up.outputs.body_json as { headers: Record<string, string>; body: string };
    const boundary = /^multipart\/form-data; boundary=([0-9a-f]{32})$/.exec(seen.headers['content-type']!)?.[1];
    expect(boundary).toBeDefined();
    expect(seen.body).toBe(
      `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="doc"; filename="upload.txt"\r\nContent-Type: text/plain\r\n\r\nfile-content\r\n` +
        `--${boundary}--\r\n`,
    );

    const target = join(dir, 'downloaded.txt');
    const down = await runTask('http', local({ url: `${server.url}/ok`, download_to: target }), engine());
    expect(down.outputs).toMatchObject({ body: target, content_length: 2 });
    expect(readFileSync(target, 'utf8')).toBe('OK');

    const missing = await runTask('http', local({ url: `${server.url}/echo`, method: 'POST', upload_file: join(dir, 'nope.bin') }), engine());
    expect(missing.status).toBe(WorkflowStatus.TERMINAL);
    expect(missing.context.error).toBe(`File not found: Upload file not found: ${join(dir, 'nope.bin')}`);
    const traversal = await runTask('http', local({ url: `${server.url}/echo`, upload_file: '/etc/../etc/passwd' }), engine());
    expect(traversal.context.error).toBe('Path traversal blocked in upload_file: /etc/../etc/passwd');
    const downTraversal = await runTask('http', local({ url: `${server.url}/ok`, download_to: `${dir}/../x` }), engine());
    expect(downTraversal.context.error).toBe(`Path traversal blocked in download_to: ${dir}/../x`);
  });

  it('20: 404 and 500 are TERMINAL with the status in the context; continue_on_failure keeps going', async () => {
    for (const code of [404, 500]) {
      const s = await runTask('http', local({ url: `${server.url}/status/${code}` }), engine());
      expect(s.status).toBe(WorkflowStatus.TERMINAL);
      expect(s.context.status_code).toBe(code);
      expect(s.context.error).toBe(`HTTP ${code}`);
      expect(s.outputs).toEqual({});
    }
    const cont = await runTask('http', local({ url: `${server.url}/status/404`, continue_on_failure: true }), engine());
    expect(cont.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(cont.outputs.status_code).toBe(404);
    expect(cont.context.error).toBe('HTTP 404');
  });

  it('21: expected_status alone decides success', async () => {
    const ok = await runTask('http', local({ url: `${server.url}/status/404`, expected_status: [404, 410] }), engine());
    expect(ok.status).toBe(WorkflowStatus.SUCCEEDED);
    const bad = await runTask('http', local({ url: `${server.url}/ok`, expected_status: 201 }), engine());
    expect(bad.status).toBe(WorkflowStatus.TERMINAL);
    expect(bad.context.error).toBe('Unexpected status 200, expected [201]');
  });

  it('22: a 503 is retried through the engine with exponential backoff; POST without retry_non_idempotent is not', async () => {
    const e = engine();
    const s = await runTask('http', local({ url: `${server.url}/always503`, retries: 2, retry_delay: 0.1 }), e);
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect(s.context.error).toBe('HTTP 503');
    expect(s.context.status_code).toBe(503);
    const times = hits.get('/always503')!;
    expect(times).toHaveLength(3);
    // Delays are engine time (the message is rescheduled, no worker sleeps): 100 ms, then 200 ms, ±10 %.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(90);
    expect(times[1]! - times[0]!).toBeLessThanOrEqual(110);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(180);
    expect(times[2]! - times[1]!).toBeLessThanOrEqual(220);

    const post = await runTask('http', local({ url: `${server.url}/post503`, method: 'POST', body: 'x', retries: 2, retry_delay: 0.1, retry_non_idempotent: false }), engine());
    expect(post.context.error).toBe('HTTP 503');
    expect(requestsTo('/post503')).toHaveLength(1);
  });

  it('22b: Retry-After on a 429 sets the delay before the retry', async () => {
    const s = await runTask('http', local({ url: `${server.url}/retry-after`, retries: 1, retry_delay: 0.1 }), engine());
    expect(s.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(s.outputs.body).toBe('finally');
    const times = hits.get('/retry-after')!;
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBe(2000);
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('23: a response over max_response_size fails with "max size"; a partial download is removed', async () => {
    const s = await runTask('http', local({ url: `${server.url}/big`, max_response_size: 1000 }), engine());
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect(s.context.error).toBe('Response exceeds max size (1000 bytes)');
    const target = join(dir, 'big.bin');
    const d = await runTask('http', local({ url: `${server.url}/big`, max_response_size: 1000, download_to: target }), engine());
    expect(d.context.error).toContain('max size');
    expect(existsSync(target)).toBe(false);
    const cont = await runTask('http', local({ url: `${server.url}/big`, max_response_size: 1000, continue_on_failure: true }), engine());
    expect(cont.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(cont.outputs).toEqual({ status_code: 200, url: `${server.url}/big` });
  });

  it('25: connection errors and timeouts are "URL error" / "Request timed out" with elapsed_ms and url', async () => {
    const closed = await startServer(() => undefined);
    const port = closed.port;
    await closed.close();
    const refused = await runTask('http', local({ url: `http://127.0.0.1:${port}/`, timeout: 1 }), engine());
    expect(refused.status).toBe(WorkflowStatus.TERMINAL);
    expect(refused.context.error).toBe(`URL error: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(refused.context.url).toBe(`http://127.0.0.1:${port}/`);
    expect(typeof refused.context.elapsed_ms).toBe('number');
    const badPort = await runTask('http', local({ url: 'http://127.0.0.1:1/', timeout: 1 }), engine());
    expect(String(badPort.context.error)).toMatch(/^URL error: /);
    const slow = await runTask('http', local({ url: `${server.url}/slow`, timeout: 0.5 }), engine());
    expect(slow.context.error).toBe('Request timed out');
    const cont = await runTask('http', local({ url: `http://127.0.0.1:${port}/`, continue_on_failure: true }), engine());
    expect(cont.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect(Object.keys(cont.outputs).sort()).toEqual(['elapsed_ms', 'url']);
    const ftp = await runTask('http', local({ url: 'ftp://x/' }), engine());
    expect(ftp.context.error).toBe("URL error: unsupported URL scheme 'ftp'");
  });

  it('25b: a connection error is retried when retries are left', async () => {
    const closed = await startServer(() => undefined);
    const port = closed.port;
    await closed.close();
    const e = engine();
    const s = await runTask('http', local({ url: `http://127.0.0.1:${port}/`, retries: 2, retry_delay: 0.05 }), e);
    expect(s.context.error).toBe(`URL error: connect ECONNREFUSED 127.0.0.1:${port}`);
    const exception = s.context.exception as { details?: { attempts?: number } } | undefined;
    expect(exception).toBeUndefined(); // the task decided the failure itself after its retries
    expect(e.clock.now()).toBeGreaterThan(new ManualClock().now()); // the retries waited on the engine clock
  });

  it('26: a 302 is followed and the final URL is reported', async () => {
    const s = await runTask('http', local({ url: `${server.url}/redirect` }), engine());
    expect(s.outputs.body).toBe('Redirected!');
    expect(String(s.outputs.url).endsWith('/redirected')).toBe(true);
    const post = await runTask('http', local({ url: `${server.url}/redirect`, method: 'POST', json: { a: 1 } }), engine());
    expect(post.outputs.body).toBe('Redirected!');
    const put = await runTask('http', local({ url: `${server.url}/redirect`, method: 'PUT', body: 'x' }), engine());
    expect(put.status).toBe(WorkflowStatus.TERMINAL);
    expect(put.context.error).toBe('HTTP 302');
  });

  it('27: unsupported methods, missing url, and the content-type table', async () => {
    const bad = await runTask('http', local({ url: `${server.url}/ok`, method: 'INVALID' }), engine());
    expect(String(bad.context.error).toLowerCase()).toContain('unsupported method');
    expect(bad.context.error).toBe("Unsupported method 'INVALID'. Supported: ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']");
    const none = await runTask('http', {}, engine());
    expect(none.context.error).toBe("No 'url' specified in context");
    expect(guessContentType('a.txt')).toBe('text/plain');
    expect(guessContentType('a.JSON')).toBe('application/json');
    expect(guessContentType('a.unknown')).toBe('application/octet-stream');
  });

  it('secrets are masked in the reported url', async () => {
    const s = await runTask('http', local({ url: `${server.url}/status/500?key={token}`, token: 'tok-999', secrets: ['token'] }), engine());
    expect(s.context.url).toBe(`${server.url}/status/500?key=***`);
  });
});

describe('HTTPTask SSRF guard (on by default)', () => {
  it('24: loopback literals, localhost and other private forms are blocked before any request', async () => {
    const before = server.requests.length;
    const literal = await runTask('http', { url: `${server.url}/ok` }, engine());
    expect(literal.status).toBe(WorkflowStatus.TERMINAL);
    expect(literal.context.error).toBe(`SSRF blocked: URL '${server.url}/ok' targets private address 127.0.0.1`);
    const name = await runTask('http', { url: 'http://localhost:1/x' }, engine());
    expect(name.context.error).toMatch(/^SSRF blocked: URL 'http:\/\/localhost:1\/x' resolves to private address (127\.0\.0\.1|::1)$/);
    const cases: Array<[string, string]> = [
      [`http://0.0.0.0:${server.port}/`, '0.0.0.0'],
      [`http://[::ffff:127.0.0.1]:${server.port}/`, '::ffff:7f00:1'],
      [`http://[::1]:${server.port}/`, '::1'],
      [`http://2130706433:${server.port}/`, '127.0.0.1'],
      [`http://0x7f.1:${server.port}/`, '127.0.0.1'],
      ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
      ['http://10.1.2.3/', '10.1.2.3'],
      ['http://192.168.1.1/', '192.168.1.1'],
      ['http://172.20.0.1/', '172.20.0.1'],
      ['http://100.64.0.1/', '100.64.0.1'],
      ['http://[fd00::1]/', 'fd00::1'],
      ['http://[fe80::1]/', 'fe80::1'],
    ];
    for (const [url, address] of cases) {
      const s = await runTask('http', { url }, engine());
      expect(s.context.error, url).toMatch(new RegExp(`^SSRF blocked: URL '.*' targets private address ${address.replaceAll('.', '\\.')}$`));
    }
    expect(server.requests.length).toBe(before);
  });

  it('24b: a redirect into a private range is blocked at the hop', async () => {
    // localhost is allowed explicitly; the redirect to 127.0.0.1 is not.
    const target = `${server.url}/ok`;
    const s = await runTask('http', { url: `http://localhost:${server.port}/redirect-to?to=${encodeURIComponent(target)}`, allowed_private_hosts: ['localhost'] }, engine());
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect(s.context.error).toBe(`SSRF blocked: URL '${target}' targets private address 127.0.0.1`);
    expect(requestsTo('/redirect-to').length).toBeGreaterThan(0);
    const okHits = hits.get('/ok')?.length ?? 0;
    const again = await runTask('http', { url: `http://localhost:${server.port}/redirect-to?to=${encodeURIComponent(target)}`, allowed_private_hosts: ['localhost'] }, engine());
    expect(again.context.error).toContain('SSRF blocked');
    expect(hits.get('/ok')?.length ?? 0).toBe(okHits);
  });

  it('a name resolving to a private address is blocked, and DNS rebinding cannot redirect the connection', async () => {
    const calls: string[] = [];
    // First answer public, later answers loopback: a rebinding attack.
    const rebinding: Resolver = async (host) => {
      calls.push(host);
      return calls.length === 1 ? [{ address: '198.51.100.7', family: 4 }] : [{ address: '127.0.0.1', family: 4 }];
    };
    const before = requestsTo('/secret').length;
    const e = engine({ tasks: { http: { resolver: rebinding } } });
    await runTask('http', { url: `http://rebind.test:${server.port}/secret`, timeout: 2 }, e);
    expect(calls).toEqual(['rebind.test']); // resolved once: the connection used the vetted address
    expect(requestsTo('/secret').length).toBe(before);

    const privateName: Resolver = async () => [{ address: '10.0.0.8', family: 4 }];
    const p = await runTask('http', { url: 'http://internal.test/x' }, engine({ tasks: { http: { resolver: privateName } } }));
    expect(p.context.error).toBe("SSRF blocked: URL 'http://internal.test/x' resolves to private address 10.0.0.8");
  });

  it('a host that failed to resolve at the check is vetted again when connecting', async () => {
    let n = 0;
    const flaky: Resolver = async (host) => {
      n++;
      if (n === 1) throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${host}`), { code: 'EAI_AGAIN' });
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const before = server.requests.length;
    const s = await runTask('http', { url: `http://late.test:${server.port}/ok`, timeout: 2 }, engine({ tasks: { http: { resolver: flaky } } }));
    expect(s.status).toBe(WorkflowStatus.TERMINAL);
    expect(s.context.error).toBe(`SSRF blocked: URL 'http://late.test:${server.port}/ok' resolves to private address 127.0.0.1`);
    expect(server.requests.length).toBe(before);
  });

  it('allow_private_urls in the context or allowPrivateUrls on the task opt out', async () => {
    const ctx = await runTask('http', { url: `${server.url}/ok`, allow_private_urls: true }, engine());
    expect(ctx.status).toBe(WorkflowStatus.SUCCEEDED);
    const camel = await runTask('http', { url: `${server.url}/ok`, allowPrivateUrls: true }, engine());
    expect(camel.status).toBe(WorkflowStatus.SUCCEEDED);
    const option = await runTask('http', { url: `${server.url}/ok` }, engine({ tasks: { http: { allowPrivateUrls: true } } }));
    expect(option.status).toBe(WorkflowStatus.SUCCEEDED);
  });
});
