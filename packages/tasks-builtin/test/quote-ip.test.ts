import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { blockedAddressReason, isBlockedAddress, ShellSplitError, shellQuote, shellSplit } from '../src/index.js';

/** Runs Python's shlex on the cases, so the port is checked against the original. */
function python(code: string, input: unknown): unknown {
  return JSON.parse(execFileSync('python3', ['-c', code], { input: JSON.stringify(input), encoding: 'utf8' }));
}

const QUOTE_CASES = ['', 'abc', 'a b', "it's", 'a"b', '$HOME', '`id`', 'a;b', 'x=1,y=2', 'path/to/file.txt', '-rf', 'tab\there', 'new\nline', 'ünïcode', '@%+=:,./-', '*'];
const SPLIT_CASES = [
  "sh -c 'echo $X'",
  'a "b c" d',
  'a\\ b c',
  '"a\\"b" \'c\\d\'',
  '"x\\y" "\\\\"',
  "a '' b",
  'a""b',
  '  lead  trail  ',
  "mix'ed'\"quo\"tes",
  'x #notacomment',
  'tab\tsep\nnl',
];

describe('shellQuote / shellSplit match Python shlex', () => {
  it('shellQuote equals shlex.quote', () => {
    const expected = python('import json, shlex, sys; print(json.dumps([shlex.quote(s) for s in json.load(sys.stdin)]))', QUOTE_CASES);
    expect(QUOTE_CASES.map(shellQuote)).toEqual(expected);
  });

  it('shellSplit equals shlex.split, and round-trips quoted words', () => {
    const expected = python('import json, shlex, sys; print(json.dumps([shlex.split(s) for s in json.load(sys.stdin)]))', SPLIT_CASES);
    expect(SPLIT_CASES.map(shellSplit)).toEqual(expected);
    expect(shellSplit(QUOTE_CASES.map(shellQuote).join(' '))).toEqual(QUOTE_CASES);
  });

  it('unclosed quotes and a trailing backslash are errors, like shlex', () => {
    expect(() => shellSplit("a 'b")).toThrow(ShellSplitError);
    expect(() => shellSplit('a "b')).toThrow('No closing quotation');
    expect(() => shellSplit('a \\')).toThrow('No escaped character');
  });
});

describe('SSRF block list', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'this network'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'IPv4-mapped'],
    ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ['::ffff:7f00:1', 'IPv4-mapped'],
    ['::127.0.0.1', 'IPv4-compatible'],
    ['64:ff9b::7f00:1', 'NAT64 of a private address'],
    ['2002:c0a8:0101::1', '6to4 of a private address'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fe80::1%eth0', 'link-local'],
    ['[fe80::1]', 'link-local'],
    ['ff02::1', 'multicast'],
  ])('%s is blocked (%s)', (address, reason) => {
    expect(blockedAddressReason(address)).toBe(reason);
  });

  it.each(['8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '198.51.100.7', '2001:4860:4860::8888', '64:ff9b::808:808', '2002:0808:0808::1', 'example.com'])('%s is allowed', (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });
});
