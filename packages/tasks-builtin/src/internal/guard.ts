// SSRF guard and DNS pinning for HTTPTask. Every URL (first request and each redirect hop) is
// vetted before it is requested: its host is resolved once, every address is checked against the
// block list, and the connection is then made to exactly those addresses through a custom
// `connect.lookup` of the undici Agent behind Node's fetch. A name that re-resolves to another
// address between check and connect (DNS rebinding) cannot change where the request goes.
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { bareHost, blockedAddressReason } from './ip.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (default: the system resolver, `getaddrinfo`). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** The URL targets an address the SSRF guard blocks. */
export class SsrfBlockedError extends Error {
  override readonly name = 'SsrfBlockedError';
}

/** The URL cannot be requested (no host, unsupported scheme, malformed). */
export class UrlError extends Error {
  override readonly name = 'UrlError';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | ResolvedAddress[], family?: number) => void;

export interface AddressGuardOptions {
  /** Check addresses against the block list. False: only pin (allow_private_urls). */
  enabled: boolean;
  resolver: Resolver;
  /** Host names (or IP literals) allowed to reach private addresses. Lower-case. */
  allowedHosts: ReadonlySet<string>;
  /** Turns URLs into text for messages (secret masking). */
  describe: (url: string) => string;
}

export class AddressGuard {
  private readonly pinned = new Map<string, ResolvedAddress[]>();
  /** The last URL vetted per host, for messages from the connect-time check. */
  private readonly urls = new Map<string, string>();

  constructor(private readonly options: AddressGuardOptions) {}

  private exempt(host: string): boolean {
    return !this.options.enabled || this.options.allowedHosts.has(host.toLowerCase());
  }

  private check(url: string, host: string, addresses: readonly ResolvedAddress[]): void {
    if (this.exempt(host)) return;
    for (const { address } of addresses) {
      if (blockedAddressReason(address) !== null) {
        throw new SsrfBlockedError(`SSRF blocked: URL '${this.options.describe(url)}' resolves to private address ${address}`);
      }
    }
  }

  /**
   * Vets `url` before it is requested. IP literals are checked directly; a name is resolved, every
   * address checked, and the addresses pinned for the connection. A DNS failure is let through
   * (the connection then fails with the resolver's error).
   */
  async vet(url: URL): Promise<void> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlError(`unsupported URL scheme '${url.protocol.replace(/:$/, '')}'`);
    const host = bareHost(url.hostname);
    if (host === '') throw new UrlError(`Cannot extract hostname from URL: ${this.options.describe(url.href)}`);
    if (isIP(host)) {
      const reason = blockedAddressReason(host);
      if (reason !== null && !this.exempt(host)) {
        throw new SsrfBlockedError(`SSRF blocked: URL '${this.options.describe(url.href)}' targets private address ${host}`);
      }
      return;
    }
    const key = host.toLowerCase();
    this.urls.set(key, url.href);
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.options.resolver(host);
    } catch {
      return; // resolved again (and checked) at connect time
    }
    this.check(url.href, host, addresses);
    if (addresses.length > 0) this.pinned.set(key, addresses);
  }

  /** `connect.lookup` for the Agent: answers with the pinned addresses (resolving and vetting if none). */
  readonly lookup = (hostname: string, options: { family?: number | string; all?: boolean } | number, callback: LookupCallback): void => {
    const host = bareHost(hostname);
    const key = host.toLowerCase();
    const answer = (addresses: ResolvedAddress[]) => {
      const family = typeof options === 'number' ? options : Number(options?.family ?? 0);
      const usable = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
      if (usable.length === 0) {
        const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${host}`);
        error.code = 'ENOTFOUND';
        callback(error, []);
        return;
      }
      if (typeof options === 'object' && options?.all) callback(null, usable);
      else callback(null, usable[0]!.address, usable[0]!.family);
    };
    const pinned = this.pinned.get(key);
    if (pinned) {
      answer(pinned);
      return;
    }
    this.options.resolver(host).then(
      (addresses) => {
        try {
          this.check(this.urls.get(key) ?? host, host, addresses);
        } catch (error) {
          callback(error as NodeJS.ErrnoException, []);
          return;
        }
        this.pinned.set(key, addresses);
        answer(addresses);
      },
      (error: NodeJS.ErrnoException) => callback(error, []),
    );
  };
}

// ---- the Agent class behind Node's global fetch --------------------------------------------------

/** The subset of undici's Agent options HTTPTask uses. */
export interface AgentOptions {
  connect: {
    lookup: AddressGuard['lookup'];
    timeout?: number;
    ca?: string | Buffer;
    cert?: string | Buffer;
    key?: string | Buffer;
    rejectUnauthorized?: boolean;
  };
  headersTimeout?: number;
  bodyTimeout?: number;
}

/** An undici Dispatcher as fetch's `dispatcher` option takes it. */
export interface Dispatcher {
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export type AgentFactory = (options: AgentOptions) => Dispatcher;

const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/**
 * Creates Agents of the undici copy that Node's fetch itself uses (reached through the global
 * dispatcher, which Node registers under a well-known symbol). No extra dependency is needed; pass
 * `agentFactory` (for example `(o) => new undici.Agent(o)`) to use another undici.
 */
export const bundledAgentFactory: AgentFactory = (options) => {
  if (!(globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER]) void new Headers(); // loads Node's undici
  const dispatcher = (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER] as { constructor?: new (o: AgentOptions) => Dispatcher } | undefined;
  const Agent = dispatcher?.constructor;
  if (typeof Agent !== 'function' || Agent.name !== 'Agent') {
    throw new Error("Cannot find the undici Agent behind fetch (the global dispatcher was replaced); pass HTTPTask's agentFactory option");
  }
  return new Agent(options);
};
