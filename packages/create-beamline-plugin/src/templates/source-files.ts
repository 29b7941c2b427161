import type { Feature } from '../features.js';
import type { PluginNames } from '../names.js';

/** `src/tokens.ts`: the options token, and one token per class other code may resolve. */
export function tokensFile(n: PluginNames, features: readonly Feature[]): string {
  const imports = [`import type { ${n.pascal}PluginOptions } from './create-${n.plugin}-plugin.js';`];
  const tokens = [
    `/** The options \`${n.factory}\` was given, for the plugin's own classes. */`,
    `export const ${n.pascal}OptionsToken = createToken<${n.pascal}PluginOptions>('${n.plugin}.options');`,
  ];
  if (features.includes('runner')) {
    imports.push(`import type { ${n.pascal}Runner } from './${n.plugin}-runner.js';`);
    tokens.push(
      `/** The \`${n.plugin}\` runner, for applications and other plugins' classes. */`,
      `export const ${n.pascal}RunnerToken = createToken<${n.pascal}Runner>('${n.plugin}.runner');`,
    );
  }
  if (features.includes('service')) {
    imports.push(`import type { ${n.pascal}Service } from './${n.plugin}-service.js';`);
    tokens.push(
      `/** The \`${n.plugin}.status\` service: \`runtime.resolve(${n.pascal}ServiceToken).url\` once started. */`,
      `export const ${n.pascal}ServiceToken = createToken<${n.pascal}Service>('${n.plugin}.service');`,
    );
  }
  return `import { createToken } from '@beamline/core';\n${imports.join('\n')}\n\n${tokens.join('\n')}\n`;
}

/** `src/<name>-error.ts`: the package's one error class, codes and their retry rule in one table. */
export function errorFile(n: PluginNames): string {
  const C = n.constant;
  return `import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of this plugin's errors; callers branch on these, never on messages. */
export type ${n.pascal}ErrorCode = '${C}_CONFIG_INVALID' | '${C}_UNAVAILABLE';

/** Whether retrying the same work may succeed, per code: decided once, here. */
const RETRYABLE: Readonly<Record<${n.pascal}ErrorCode, boolean>> = {
  ${C}_CONFIG_INVALID: false,
  ${C}_UNAVAILABLE: true,
};

/** The error class of this plugin. \`retryable\` defaults per code. */
export class ${n.pascal}Error extends BeamlineError {
  declare readonly code: ${n.pascal}ErrorCode;

  constructor(code: ${n.pascal}ErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { ...options, retryable: options.retryable ?? RETRYABLE[code] });
    this.name = '${n.pascal}Error';
  }
}

/** True for an error of this plugin (checks shape, not prototype), optionally with a given code. */
export function is${n.pascal}Error(error: unknown, code?: ${n.pascal}ErrorCode): error is ${n.pascal}Error {
  return isBeamlineError(error) && error.name === '${n.pascal}Error' && (code === undefined || error.code === code);
}
`;
}

/** `src/hello-command.ts`: a command class with a zod schema and the options injected. */
export function commandFile(n: PluginNames): string {
  return `import { inject, injectable, type Command, type CommandContext, type StepEvent } from '@beamline/core';
import { of, type Observable } from 'rxjs';
import { z } from 'zod';
import type { ${n.pascal}PluginOptions } from './create-${n.plugin}-plugin.js';
import { ${n.pascal}OptionsToken } from './tokens.js';

const helloParams = z.strictObject({ who: z.string().min(1) });

/** Parameters of \`${n.plugin}.hello\`. */
export type HelloParams = z.output<typeof helloParams>;

/** \`uses: ${n.plugin}.hello\`, \`with: { who }\`: outputs \`greeting\`. */
@injectable()
export class HelloCommand implements Command<HelloParams> {
  readonly name = '${n.plugin}.hello';
  /** Part of every step's cache key: bump it when the command's behaviour changes. */
  readonly version = '1';
  readonly description = 'greet someone';
  readonly params = helloParams;

  constructor(@inject(${n.pascal}OptionsToken) private readonly options: ${n.pascal}PluginOptions) {}

  /** The command never uses the step's runner, so where it would run is not part of its cache key. */
  runnerIdentity(): null {
    return null;
  }

  /** A cold Observable: nothing starts before subscription, and its teardown stops what it started. */
  execute(_ctx: CommandContext, { who }: HelloParams): Observable<StepEvent> {
    return of({ type: 'outputs', outputs: { greeting: \`\${this.options.greeting ?? 'hello'} \${who}\` } });
  }
}
`;
}

/** `src/<name>-runner.ts`: a runner that runs processes through core's \`local\` runner, with extra environment. */
export function runnerFile(n: PluginNames): string {
  return `import {
  inject,
  injectable,
  Tokens,
  type ExecOptions,
  type ProcessEvent,
  type ProcessSpec,
  type Runner,
  type RunnerIdentityRequest,
  type RunnerLookup,
} from '@beamline/core';
import { defer, type Observable } from 'rxjs';
import type { ${n.pascal}PluginOptions } from './create-${n.plugin}-plugin.js';
import { ${n.pascal}OptionsToken } from './tokens.js';

/**
 * \`runner: ${n.plugin}\`: runs each process on this host through core's \`local\` runner, with the
 * plugin's \`env\` added. Replace \`exec\` with your own placement (a scheduler, a remote host); keep the
 * contract: a cold stream of \`started\`, output chunks, exactly one \`exit\`; the signal stops the work.
 */
@injectable()
export class ${n.pascal}Runner implements Runner {
  readonly name = '${n.plugin}';

  constructor(
    @inject(Tokens.Runners) private readonly runners: RunnerLookup,
    @inject(${n.pascal}OptionsToken) private readonly options: ${n.pascal}PluginOptions,
  ) {}

  /** Part of the cache key of the steps it runs. */
  async identity(request: RunnerIdentityRequest): Promise<string> {
    return \`${n.plugin}+\${await this.runners.require('local').identity(request)}\`;
  }

  exec(spec: ProcessSpec, options?: ExecOptions): Observable<ProcessEvent> {
    return defer(() =>
      this.runners.require('local').exec({ ...spec, env: { ...this.options.env, ...spec.env } }, options),
    );
  }
}
`;
}

/** `src/<name>-service.ts`: a service the runtime starts and stops: a status endpoint on loopback. */
export function serviceFile(n: PluginNames): string {
  return `import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inject, injectable, type Service, type ServiceAddress, type ServiceHealth } from '@beamline/core';
import type { ${n.pascal}PluginOptions } from './create-${n.plugin}-plugin.js';
import { ${n.pascal}Error } from './${n.plugin}-error.js';
import { ${n.pascal}OptionsToken } from './tokens.js';

/** \`${n.plugin}.status\`: answers \`GET /health\` on loopback while the runtime runs. */
@injectable()
export class ${n.pascal}Service implements Service {
  readonly name = '${n.plugin}.status';
  private server: Server | undefined;
  private address: string | undefined;

  constructor(@inject(${n.pascal}OptionsToken) private readonly options: ${n.pascal}PluginOptions) {}

  /** Where it listens, once started. */
  get url(): string | undefined {
    return this.address;
  }

  async start(): Promise<ServiceAddress> {
    const server = createServer((req, res) => {
      if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new ${n.pascal}Error('${n.constant}_UNAVAILABLE', \`${n.plugin}.status: cannot listen: \${error.message}\`, {
            cause: error,
          }),
        ),
      );
      server.listen(this.options.port ?? 0, '127.0.0.1', resolve);
    });
    this.server = server;
    this.address = \`http://127.0.0.1:\${(server.address() as AddressInfo).port}/\`;
    return { url: this.address };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  health(): Promise<ServiceHealth> {
    return Promise.resolve(this.server?.listening ? { ok: true } : { ok: false, detail: 'not started' });
  }
}
`;
}

/** `src/create-<name>-plugin.ts`: the options, their validation, and the factory. */
export function pluginFile(n: PluginNames, features: readonly Feature[]): string {
  const has = (feature: Feature): boolean => features.includes(feature);
  const imports = [
    `import type { Plugin } from '@beamline/core';`,
    has('command') ? `import { HelloCommand } from './hello-command.js';` : '',
    `import { ${n.pascal}Error } from './${n.plugin}-error.js';`,
    has('runner') ? `import { ${n.pascal}Runner } from './${n.plugin}-runner.js';` : '',
    has('service') ? `import { ${n.pascal}Service } from './${n.plugin}-service.js';` : '',
    `import { ${[
      'OptionsToken',
      ...(has('runner') ? ['RunnerToken'] : []),
      ...(has('service') ? ['ServiceToken'] : []),
    ]
      .map((token) => n.pascal + token)
      .join(', ')} } from './tokens.js';`,
  ].filter((line) => line !== '');
  const fields: string[] = [];
  const checks: string[] = [];
  const registrations = [`      registry.provide(${n.pascal}OptionsToken, options);`];
  if (has('command')) {
    fields.push(
      `  /** The word \`${n.plugin}.hello\` greets with; default \`hello\`. */`,
      `  greeting?: string;`,
    );
    checks.push(`  if (options.greeting !== undefined && options.greeting.trim() === '') {
    throw invalid('greeting', 'a non-empty string', 'an empty one');
  }`);
    registrations.push(`      registry.addCommand(HelloCommand);`);
  }
  if (has('runner')) {
    fields.push(
      `  /** Environment variables added to every process the \`${n.plugin}\` runner starts. */`,
      `  env?: Readonly<Record<string, string>>;`,
    );
    checks.push(`  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || typeof value !== 'string') {
      throw invalid(\`env.\${key}\`, 'a variable name with a string value', JSON.stringify(value));
    }
  }`);
    registrations.push(
      `      registry.addRunner(${n.pascal}Runner);`,
      `      registry.provideClass(${n.pascal}RunnerToken, ${n.pascal}Runner); // the same object as the runner`,
    );
  }
  if (has('service')) {
    fields.push(
      `  /** Port of the status service on 127.0.0.1; default: any free port. */`,
      `  port?: number;`,
    );
    checks.push(`  if (options.port !== undefined && !(Number.isInteger(options.port) && options.port >= 0 && options.port < 65536)) {
    throw invalid('port', 'a whole number from 0 to 65535', String(options.port));
  }`);
    registrations.push(
      `      registry.addService(${n.pascal}Service);`,
      `      registry.provideClass(${n.pascal}ServiceToken, ${n.pascal}Service);`,
    );
  }
  return `${imports.join('\n')}

/** Options of {@link ${n.factory}}. */
export interface ${n.pascal}PluginOptions {
${fields.join('\n')}
}

function invalid(option: string, expected: string, got: string): ${n.pascal}Error {
  return new ${n.pascal}Error('${n.constant}_CONFIG_INVALID', \`${n.factory}: \${option}: expected \${expected}, got \${got}\`, {
    details: { option },
  });
}

/**
 * Creates the \`${n.plugin}\` plugin: \`createRuntime({ plugins: [${n.factory}()] })\`. Bad options are
 * \`${n.constant}_CONFIG_INVALID\`, thrown here, before any runtime starts.
 */
export function ${n.factory}(options: ${n.pascal}PluginOptions = {}): Plugin {
${checks.join('\n')}
  return {
    name: '${n.plugin}',
    register(registry) {
${registrations.join('\n')}
    },
  };
}
`;
}

/** `src/index.ts`: the curated public API. */
export function indexFile(n: PluginNames, features: readonly Feature[]): string {
  const tokens = [
    ...(features.includes('runner') ? [`${n.pascal}RunnerToken`] : []),
    ...(features.includes('service') ? [`${n.pascal}ServiceToken`] : []),
  ];
  return [
    `export { ${n.factory}, type ${n.pascal}PluginOptions } from './create-${n.plugin}-plugin.js';`,
    `export { ${n.pascal}Error, is${n.pascal}Error, type ${n.pascal}ErrorCode } from './${n.plugin}-error.js';`,
    features.includes('command')
      ? `export { HelloCommand, type HelloParams } from './hello-command.js';`
      : '',
    features.includes('runner') ? `export { ${n.pascal}Runner } from './${n.plugin}-runner.js';` : '',
    features.includes('service') ? `export { ${n.pascal}Service } from './${n.plugin}-service.js';` : '',
    tokens.length > 0 ? `export { ${tokens.join(', ')} } from './tokens.js';` : '',
  ]
    .filter((line) => line !== '')
    .join('\n')
    .concat('\n');
}
