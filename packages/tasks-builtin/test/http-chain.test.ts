// Chained HTTP stages: a stage's request is built from its own context, never from what an
// upstream stage's outputs merged into it (docs/decisions.md, "Built-in tasks", HTTP inputs).
import { type Context, TaskResult, WorkflowStatus } from '@stabilize/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownHttpSettings } from '../src/http.js';
import { createEngine, type RecordedRequest, stage, startServer, type TestServer, workflow } from './helpers.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/first') {
      res.writeHead(201, { 'Content-Type': 'text/plain', 'X-Leak': 'from-first-response' }).end('first response body');
    } else {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`seen ${path}`);
    }
  });
});
afterAll(async () => {
  await server.close();
});

/** The engine with the built-in tasks, the guard opened for the loopback test server. */
const engine = () => createEngine({ tasks: { http: { allowPrivateUrls: true } } });
const http = (refId: string, context: Context, requisiteStageRefIds: string[] = []) => stage({ refId, task: 'http', context, requisiteStageRefIds });
const requestTo = (path: string): RecordedRequest => {
  const found = server.requests.filter((r) => new URL(r.url, 'http://x').pathname === path);
  expect(found).toHaveLength(1);
  return found[0]!;
};

describe('HTTPTask in a chain of HTTP stages', () => {
  it('the second request carries neither the first response headers nor its body', async () => {
    const e = engine();
    const result = await e.run(
      workflow(
        http('first', { url: `${server.url}/first`, method: 'POST', headers: { 'X-First': 'mine' }, json: { a: 1 } }),
        // No headers and no body of its own: it must send none.
        http('second', { url: `${server.url}/second`, method: 'POST' }, ['first']),
      ),
    );
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
    const first = result.stageByRefId('first')!;
    expect(first.outputs.body).toBe('first response body');
    expect((first.outputs.headers as Record<string, string>)['x-leak']).toBe('from-first-response');

    // The engine still merges the upstream outputs into the stage's context (data flow unchanged)...
    const second = result.stageByRefId('second')!;
    expect(second.context.body).toBe('first response body');
    expect((second.context.headers as Record<string, string>)['x-leak']).toBe('from-first-response');
    // ...but the HTTP task does not send them as its own request.
    const sent = requestTo('/second');
    expect(sent.method).toBe('POST');
    expect(sent.body.length).toBe(0);
    expect(sent.headers['x-leak']).toBeUndefined();
    expect(sent.headers['x-first']).toBeUndefined();
    expect(sent.headers['content-type']).toBeUndefined();
    expect(second.outputs.body).toBe('seen /second');
  });

  it("a stage's own headers and body are sent, and placeholders still read upstream outputs", async () => {
    const e = engine();
    const result = await e.run(
      workflow(
        http('first', { url: `${server.url}/first`, method: 'POST', body: 'one' }),
        http('third', { url: `${server.url}/third?prev={status_code}`, method: 'PUT', headers: { 'X-Prev': '{content_length}' }, body: 'own body after {status_code}' }, ['first']),
      ),
    );
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
    const sent = requestTo('/third');
    expect(sent.method).toBe('PUT');
    expect(sent.url).toBe('/third?prev=201');
    expect(sent.headers['x-prev']).toBe(String('first response body'.length));
    expect(sent.headers['x-leak']).toBeUndefined();
    expect(sent.body.toString('utf8')).toBe('own body after 201');
  });

  it('request settings that an upstream stage merely output (method, json, auth, guard switches) are not used', async () => {
    const e = createEngine(); // SSRF guard on: an inherited allow_private_urls must not open it
    e.registry.register('settings', () =>
      TaskResult.success({ outputs: { method: 'DELETE', json: { drop: 'everything' }, auth: ['admin', 'secret'], allow_private_urls: true, target: `${server.url}/fourth` } }),
    );
    const blocked = await e.run(workflow(stage({ refId: 'producer', task: 'settings' }), http('fourth', { url: '{target}' }, ['producer'])));
    const guarded = blocked.stageByRefId('fourth')!;
    expect(guarded.status).toBe(WorkflowStatus.TERMINAL);
    expect(String(guarded.context.error)).toContain('SSRF blocked');

    const open = engine();
    open.registry.register('settings', () => TaskResult.success({ outputs: { method: 'DELETE', json: { drop: 'everything' }, auth: ['admin', 'secret'], target: `${server.url}/fifth` } }));
    const result = await open.run(workflow(stage({ refId: 'producer', task: 'settings' }), http('fifth', { url: '{target}' }, ['producer'])));
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
    const sent = requestTo('/fifth');
    expect(sent.method).toBe('GET');
    expect(sent.body.length).toBe(0);
    expect(sent.headers.authorization).toBeUndefined();
  });

  it('an inherited url is still used (a POST then a GET of the same resource)', async () => {
    const e = engine();
    const url = `${server.url}/same`;
    const result = await e.run(workflow(http('create', { url, method: 'POST', json: { a: 1 } }), http('read', { url }, ['create'])));
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
    const sent = server.requests.filter((r) => r.url === '/same');
    expect(sent.map((r) => r.method)).toEqual(['POST', 'GET']);
    expect(sent[1]!.body.length).toBe(0);
  });
});

describe('ownHttpSettings', () => {
  it('drops only the keys still equal to the inherited value, except url and secrets', () => {
    const inherited = { headers: { a: '1' }, body: 'x', method: 'DELETE', url: 'http://u/', secrets: ['k'], timeout: 5 };
    const context = { ...inherited, timeout: 9, mine: true };
    expect(ownHttpSettings({ context, ancestorOutputs: inherited })).toEqual({ url: 'http://u/', secrets: ['k'], timeout: 9, mine: true });
  });

  it('keeps the whole context of a stage the engine did not plan', () => {
    const context = { headers: { a: '1' }, body: 'x' };
    expect(ownHttpSettings({ context, ancestorOutputs: null })).toEqual(context);
  });
});
