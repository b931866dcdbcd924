/** A test server child process (versitygw, moto): stderr tail for error messages, clean and forced stop. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const STOP_TIMEOUT_MS = 5_000;
const STDERR_TAIL_BYTES = 16 * 1024;

export class ServerProcess {
  readonly exitPromise: Promise<void>;
  exited = false;
  /** The server's process ID (benchmarks read its CPU time from /proc); undefined if it could not be spawned. */
  readonly pid: number | undefined;
  private readonly child: ChildProcess;
  private stderrBuf = '';
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private readonly killOnExit = (): void => {
    if (!this.exited) this.child.kill('SIGKILL');
  };

  constructor(bin: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    this.pid = this.child.pid;
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderrBuf = (this.stderrBuf + chunk).slice(-STDERR_TAIL_BYTES);
    });
    this.exitPromise = new Promise((resolve) => {
      const done = (): void => {
        this.exited = true;
        process.off('exit', this.killOnExit);
        resolve();
      };
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        done();
      });
      this.child.once('error', (err) => {
        this.stderrBuf += `\nspawn error: ${err.message}`;
        done();
      });
    });
    // A crashed or interrupted test run must not leave a server behind.
    process.on('exit', this.killOnExit);
  }

  stderrTail(): string {
    return this.stderrBuf;
  }

  exitDescription(): string {
    return this.exitSignal ? `signal ${this.exitSignal}` : `exit code ${String(this.exitCode)}`;
  }

  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
