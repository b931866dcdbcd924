/**
 * How the Confluent-compatible client reads a registry's answers (a local HTTP server plays each answer; the
 * registry's real API is proven against Apicurio in test/integration/schema-registry.test.ts): final answers for a
 * schema are its records' dead letters, everything else an outage that fails the batch — a wrong URL included.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfluentFetcher, RegistryUnavailableError } from '../../../lambdas/shared/registry/client.ts';
import { compileAvro } from '../../../lambdas/shared/registry/avro.ts';

type Answer = { status: number; body: string };
let answers: Record<string, Answer[]> = {};
const seen: string[] = [];
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url!);
    const list = answers[req.url!] ?? [{ status: 404, body: '{"error_code":40403,"message":"not found"}' }];
    const a = list.length > 1 ? list.shift()! : list[0];
    res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const fetcher = () => new ConfluentFetcher({ url: base, attempts: 3, timeoutMs: 1000 });
const schema = (s: unknown, refs: unknown[] = []) => ({ status: 200, body: JSON.stringify({ schema: JSON.stringify(s), references: refs }) });

describe('Confluent-compatible registry answers', () => {
  it('a 404 with a registry error code, a 403 or a 422 is final: the schema is missing (its records are dead letters)', async () => {
    answers = {
      '/schemas/ids/1': [{ status: 404, body: '{"error_code":40403,"message":"Schema 1 not found"}' }],
      '/schemas/ids/2': [{ status: 403, body: '{"error_code":40301,"message":"User cannot access the resource."}' }],
      '/schemas/ids/3': [{ status: 422, body: '{"error_code":42202,"message":"Invalid schema id"}' }],
      '/schemas/ids/4': [{ status: 200, body: '{"schemaType":"XML","schema":"<x/>"}' }],
    };
    for (const [id, why] of [['1', /does not have it \(40403/], ['2', /refuses it \(HTTP 403/], ['3', /refuses it \(HTTP 422/], ['4', /without a schema of a known type/]] as const) {
      const got = await fetcher().fetch(id);
      expect('missing' in got && got.missing).toMatch(why);
    }
  });

  it('a 404 without an error code (a wrong URL), a 401, and 5xx after the retries are outages: the batch fails', async () => {
    answers = {
      '/schemas/ids/5': [{ status: 404, body: '<html>Not Found</html>' }],
      '/schemas/ids/6': [{ status: 401, body: '{"error_code":401,"message":"Unauthorized"}' }],
      '/schemas/ids/7': [{ status: 503, body: 'busy' }],
    };
    await expect(fetcher().fetch('5')).rejects.toThrow(RegistryUnavailableError);
    await expect(fetcher().fetch('6')).rejects.toThrow(/HTTP 401/);
    await expect(fetcher().fetch('7')).rejects.toThrow(/HTTP 503/);
  });

  it('a 500 or a body that is not JSON is retried within the call', async () => {
    answers = { '/schemas/ids/8': [{ status: 500, body: 'oops' }, { status: 200, body: 'not json' }, schema({ type: 'record', name: 'R', fields: [] })] };
    const got = await fetcher().fetch('8');
    expect('text' in got && got.text).toBe('{"type":"record","name":"R","fields":[]}');
  });

  it('references that form a diamond are fetched once each and given in dependency order; a missing reference is final', async () => {
    seen.length = 0;
    const d = { type: 'record', name: 'D', namespace: 'x', fields: [{ name: 'v', type: 'int' }] };
    const b = { type: 'record', name: 'B', namespace: 'x', fields: [{ name: 'd', type: 'x.D' }] };
    const c = { type: 'record', name: 'C', namespace: 'x', fields: [{ name: 'd', type: 'x.D' }] };
    const a = { type: 'record', name: 'A', namespace: 'x', fields: [{ name: 'b', type: 'x.B' }, { name: 'c', type: 'x.C' }] };
    const ref = (name: string, subject: string) => ({ name, subject, version: 1 });
    answers = {
      '/schemas/ids/9': [schema(a, [ref('x.B', 'b'), ref('x.C', 'c')])],
      '/subjects/b/versions/1': [schema(b, [ref('x.D', 'd')])],
      '/subjects/c/versions/1': [schema(c, [ref('x.D', 'd')])],
      '/subjects/d/versions/1': [schema(d)],
      '/schemas/ids/10': [schema(a, [ref('x.B', 'gone')])],
      '/subjects/gone/versions/1': [{ status: 404, body: '{"error_code":40402,"message":"Version 1 not found."}' }],
    };
    const got = await fetcher().fetch('9');
    if (!('text' in got)) throw new Error(got.missing);
    expect(got.references.map((r) => r.name)).toEqual(['x.D', 'x.B', 'x.C']);
    expect(seen.filter((u) => u === '/subjects/d/versions/1')).toHaveLength(1);
    expect(compileAvro(got.text, got.references.map((r) => r.text)).kind).toBe('record');
    const gone = await fetcher().fetch('10');
    expect('missing' in gone && gone.missing).toMatch(/does not have it \(40402/);
  });
});
