// A private, throwaway PostgreSQL cluster for fault tests that stop and restart the server: its own
// data directory in a temp dir, its own port, trust auth, listening on 127.0.0.1 only. The shared
// server on port 5432 is never touched. initdb and pg_ctl refuse to run as root, so they run as the
// `postgres` user (through runuser when this process is root).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.STABILIZE_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Whether a private cluster can be created here (the binaries exist). */
export const canRunPrivateCluster = existsSync(join(BIN, 'initdb')) && existsSync(join(BIN, 'pg_ctl'));

function asPostgres(command: string, args: string[], timeoutMs = 120_000): string {
  const isRoot = process.getuid?.() === 0;
  const [file, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', join(BIN, command), ...args]] : [join(BIN, command), args];
  return execFileSync(file, argv, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class PrivateCluster {
  private running = false;
  private removed = false;
  private readonly onExit = () => this.destroySync();

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** initdb + start. Cleans up on process exit too, whatever happens to the test. */
  static async create(): Promise<PrivateCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'stabilize-pgcluster-'));
    if (process.getuid?.() === 0) {
      const { uid, gid } = JSON.parse(execFileSync('sh', ['-c', 'printf \'{"uid":%s,"gid":%s}\' "$(id -u postgres)" "$(id -g postgres)"'], { encoding: 'utf8' })) as { uid: number; gid: number };
      chownSync(dir, uid, gid);
    }
    const cluster = new PrivateCluster(dir, await freePort());
    process.once('exit', cluster.onExit);
    try {
      asPostgres('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
      cluster.start();
    } catch (error) {
      cluster.destroySync();
      throw error;
    }
    return cluster;
  }

  start(): void {
    const options = [`-p ${this.port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${this.dir}`, '-c fsync=off', '-c max_connections=100'].join(' ');
    asPostgres('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
    this.running = true;
  }

  /** `pg_ctl stop -m <mode>`: `fast` rolls back open transactions and disconnects every client. */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    asPostgres('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  /** Stops the server (if running) and removes the directory. Safe to call twice. */
  destroySync(): void {
    if (this.removed) return;
    if (this.running || existsSync(join(this.dataDir, 'postmaster.pid'))) {
      try {
        this.stop('immediate');
      } catch {
        // already down
      }
    }
    this.removed = true;
    process.off('exit', this.onExit);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
