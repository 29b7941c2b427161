import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/beamline-alicetraint.mjs', import.meta.url));
// tsx is resolved from the working directory: the package's own.
const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** The agent program as a child process (on sources), with its output collected. */
export class AgentProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `as`: run the agent as this user (the tests run as root; stages in containers refuse root). */
  constructor(env: Record<string, string>, args: string[] = [], as?: { uid: number; gid: number }) {
    this.child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, 'agent', ...args], {
      cwd: PACKAGE_DIR,
      ...as,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((done) => this.child.on('exit', (code, signal) => done({ code, signal })));
  }

  /** Resolves once the output matches. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const start = Date.now();
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the agent exited before ${String(pattern)}:\n${this.output}`);
      }
      if (Date.now() - start > timeoutMs) throw new Error(`no ${String(pattern)} in time:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
