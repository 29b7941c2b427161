import { execFileSync } from 'node:child_process';

let counter = 0;

/**
 * A network namespace of its own with a veth pair to the host: 10.231.<n>.1 on the host side, .2 inside.
 * A worker started in it (`wrap`) reaches PostgreSQL only over the pair, like a process on another host;
 * `cut()` takes the host side down (packets are dropped, nothing is refused: a lost network).
 */
export class NetworkNamespace {
  readonly name: string;
  readonly hostAddress: string;
  readonly #hostLink: string;

  constructor() {
    counter += 1;
    const n = (process.pid % 200) + counter;
    this.name = `bl-pg-${process.pid}-${counter}`;
    this.#hostLink = `blh${process.pid % 10000}${counter}`;
    const inner = `blw${process.pid % 10000}${counter}`;
    this.hostAddress = `10.231.${n}.1`;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', this.name);
    ip('link', 'add', this.#hostLink, 'type', 'veth', 'peer', 'name', inner);
    ip('link', 'set', inner, 'netns', this.name);
    ip('addr', 'add', `${this.hostAddress}/30`, 'dev', this.#hostLink);
    ip('link', 'set', this.#hostLink, 'up');
    ip('-n', this.name, 'addr', 'add', `10.231.${n}.2/30`, 'dev', inner);
    ip('-n', this.name, 'link', 'set', inner, 'up');
    ip('-n', this.name, 'link', 'set', 'lo', 'up');
  }

  /** Whether this machine can make namespaces (root, iproute2). */
  static available(): boolean {
    try {
      return process.getuid?.() === 0 && execFileSync('ip', ['-V'], { stdio: 'pipe' }).length > 0;
    } catch {
      return false;
    }
  }

  /** The command prefix that runs a program inside the namespace. */
  get wrap(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  /** `url` with its host replaced by the host side of the pair. */
  url(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = this.hostAddress;
    return parsed.toString();
  }

  cut(): void {
    execFileSync('ip', ['link', 'set', this.#hostLink, 'down'], { stdio: 'pipe' });
  }

  restore(): void {
    execFileSync('ip', ['link', 'set', this.#hostLink, 'up'], { stdio: 'pipe' });
  }

  remove(): void {
    for (const args of [
      ['link', 'del', this.#hostLink],
      ['netns', 'del', this.name],
    ]) {
      try {
        execFileSync('ip', args, { stdio: 'pipe' });
      } catch {
        // Already gone.
      }
    }
  }
}
