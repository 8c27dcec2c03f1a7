// HTTPTask against a small API this script serves itself on 127.0.0.1: a GET with JSON parsing, a
// POST whose answer feeds the next request, a bearer token from the context, a flaky endpoint
// retried by the engine, a fan-out over the other methods, and a 404 that does not stop the run.
//
//   pnpm --filter @stabilize/examples http
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Context, Orchestrator, QueueProcessor, StageExecution, TaskExecution, TaskRegistry, TaskResult, Workflow, WorkflowStatus } from '@stabilize/core';
import { HTTPTask } from '@stabilize/tasks-builtin';
import { openSqliteBackend } from '@stabilize/store-sqlite';

// ---- the API under test -------------------------------------------------------------------------
const items = new Map<number, { id: number; name: string }>();
let flakyCalls = 0;
const seen: string[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    seen.push(`${req.method} ${req.url}`);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    if (req.url === '/health') return json(200, { ok: true, version: '2.1.0' });
    if (req.url === '/items' && req.method === 'POST') {
      const item = { id: items.size + 1, name: (JSON.parse(body) as { name: string }).name };
      items.set(item.id, item);
      return json(201, item);
    }
    const match = /^\/items\/(\d+)$/.exec(req.url ?? '');
    if (match) {
      if (req.headers.authorization !== 'Bearer t0ken') return json(401, { error: 'unauthorized' });
      if (req.method === 'OPTIONS') return res.writeHead(204, { allow: 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS' }).end();
      if (req.method === 'DELETE') return res.writeHead(204).end();
      const item = items.get(Number(match[1]));
      return item ? json(200, { ...item, method: req.method }) : json(404, { error: 'not found' });
    }
    if (req.url === '/flaky') return ++flakyCalls < 3 ? json(503, { error: 'busy' }) : json(200, { calls: flakyCalls });
    json(404, { error: 'not found' });
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// ---- the workflow ---------------------------------------------------------------------------------
const registry = new TaskRegistry();
// The SSRF guard refuses private and loopback addresses by default; this API lives on 127.0.0.1.
// (Per stage, `allow_private_urls: true` in the context does the same.)
registry.register('http', new HTTPTask({ allowPrivateUrls: true }));
// A plain function task: picks the new item's id out of the POST's parsed answer.
registry.register('pick-id', (stage) => TaskResult.success({ outputs: { item_id: (stage.context.body_json as { id: number }).id } }));

const stage = (refId: string, task: string, context: Context, requisiteStageRefIds: string[] = []) =>
  new StageExecution({ refId, type: task, name: refId, context, requisiteStageRefIds, tasks: [TaskExecution.create({ name: refId, implementingClass: task })] });
// An HTTP stage sends only the settings set on it: the previous response's `headers` and `body`,
// merged into its context as upstream outputs, are not taken for its own (decisions.md).
const http = (refId: string, context: Context, requisiteStageRefIds: string[] = []) => stage(refId, 'http', context, requisiteStageRefIds);

const methods = ['PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const workflow = Workflow.create({
  application: 'examples',
  name: 'HTTP calls',
  stages: [
    http('health', { url: `${base}/health`, parse_json: true }),
    http('create', { url: `${base}/items`, method: 'POST', json: { name: 'widget' }, parse_json: true }, ['health']),
    stage('id', 'pick-id', {}, ['create']),
    // {item_id} in the URL is `id`'s output; {api_token} is this stage's context; both substituted.
    http('fetch', { url: `${base}/items/{item_id}`, bearer_token: '{api_token}', api_token: 't0ken', secrets: ['api_token'], parse_json: true }, ['id']),
    // 503 twice: each retry is a TransientError rescheduled by the engine (no worker sleeps).
    http('flaky', { url: `${base}/flaky`, retries: 3, retry_delay: 0.05, parse_json: true }, ['id']),
    // Fan-out: one stage per method, all after `fetch`, joined by `done`.
    ...methods.map((method) => http(method.toLowerCase(), { url: `${base}/items/{item_id}`, method, bearer_token: 't0ken' }, ['fetch'])),
    // A failure that must not stop the workflow.
    http('missing', { url: `${base}/items/999`, bearer_token: 't0ken', continue_on_failure: true }, ['fetch']),
    http('done', { url: `${base}/health` }, [...methods.map((m) => m.toLowerCase()), 'missing', 'flaky']),
  ],
});

const dir = mkdtempSync(join(tmpdir(), 'stabilize-http-'));
const { store, queue, close } = openSqliteBackend(join(dir, 'http.db'));
const processor = new QueueProcessor(queue, { store, taskRegistry: registry });
await new Orchestrator(queue, { store }).start(workflow);
await processor.processAll({ timeoutMs: 30_000 });

const result = await store.retrieve(workflow.id);
for (const s of result.stages) console.log(`${s.refId.padEnd(8)} ${s.status.padEnd(16)} ${s.outputs.status_code ?? ''}`);
console.log(`Workflow: ${result.status}; requests seen by the server: ${seen.length}`);

const get = (refId: string) => result.stageByRefId(refId)!;
const checks: Array<[string, boolean]> = [
  ['workflow succeeded', result.status === WorkflowStatus.SUCCEEDED],
  ['GET parsed JSON', (get('health').outputs.body_json as { version?: string }).version === '2.1.0'],
  ['POST answer fed the next URL', (get('fetch').outputs.body_json as { name?: string }).name === 'widget'],
  ['flaky endpoint retried until it answered', get('flaky').outputs.status_code === 200 && flakyCalls === 3],
  ['DELETE gave 204', get('delete').outputs.status_code === 204],
  ['HEAD has an empty body', get('head').outputs.body === ''],
  ['OPTIONS returned Allow', String((get('options').outputs.headers as Record<string, string>).allow).includes('PATCH')],
  ['404 failed softly', get('missing').status === WorkflowStatus.FAILED_CONTINUE && get('missing').outputs.status_code === 404],
];
await close();
server.close();
server.closeAllConnections();
rmSync(dir, { recursive: true, force: true });
for (const [what, ok] of checks) if (!ok) console.error(`FAILED: ${what}`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
