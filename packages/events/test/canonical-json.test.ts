import { describe, expect, it } from 'vitest';
import { canonicalJson, stateHash } from '../src/index.js';

describe('canonical JSON and the state hash', () => {
  it('sorts keys at every level, drops undefined members, keeps non-ASCII literal', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'größe ✓' }, u: undefined })).toBe('{"a":{"c":"größe ✓","d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson([undefined, 1.0, -0, 1e21, null, true])).toBe('[null,1,0,1e+21,null,true]');
    expect(canonicalJson({ when: new Date(0) })).toBe('{"when":"1970-01-01T00:00:00.000Z"}');
  });

  it('the hash is the SHA-256 of the canonical form: key order does not matter, content does', () => {
    expect(stateHash({ a: 1, b: 2 })).toBe(stateHash({ b: 2, a: 1 }));
    expect(stateHash({ a: 1 })).not.toBe(stateHash({ a: 2 }));
    expect(stateHash({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });

  it('rejects what has no JSON form', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow('circular');
  });
});
