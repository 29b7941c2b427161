import type { Feature } from '../features.js';
import type { PluginNames } from '../names.js';

/** `README.md` of the generated package: what it provides, how it is used, how it is developed. */
export function readmeFile(n: PluginNames, features: readonly Feature[]): string {
  const has = (feature: Feature): boolean => features.includes(feature);
  const provides = [
    has('command') ? `- the command \`${n.plugin}.hello\` (\`with: { who }\`, output \`greeting\`);` : '',
    has('runner')
      ? `- the runner \`${n.plugin}\` (\`runner: ${n.plugin}\` in a step), which runs processes on this host with the plugin's \`env\`;`
      : '',
    has('service')
      ? `- the service \`${n.plugin}.status\`, which answers \`GET /health\` on 127.0.0.1 while the runtime runs;`
      : '',
  ].filter((line) => line !== '');
  const steps = [
    has('command') ? `  greet:\n    uses: ${n.plugin}.hello\n    with: { who: world }` : '',
    has('runner') ? `  build:\n    uses: exec\n    runner: ${n.plugin}\n    with: { command: make }` : '',
  ].filter((step) => step !== '');
  const pipeline =
    steps.length > 0 ? `\n\`\`\`yaml\nname: example\nsteps:\n${steps.join('\n')}\n\`\`\`\n` : '';
  return `# ${n.packageName}

A plugin for Beamline (\`@beamline/core\`), the library that runs scientific compute pipelines. It provides:

${provides.join('\n')}
- \`${n.pascal}Error\` (guard \`is${n.pascal}Error\`) with the codes \`${n.constant}_CONFIG_INVALID\` and \`${n.constant}_UNAVAILABLE\`.

## Usage

\`\`\`ts
import { createRuntime } from '@beamline/core';
import { ${n.factory} } from '${n.packageName}';

const runtime = await createRuntime({ plugins: [${n.factory}()] });
\`\`\`
${pipeline}
## Development

\`\`\`sh
npm install
npm test            # the plugin in a real runtime${has('runner') ? ", and core's runner contract suite" : ''}
npm run typecheck
npm run lint        # ESLint (type-aware) and Prettier
npm run build       # dist/, with type declarations
npx publint --strict
\`\`\`

\`@beamline/core\` is a peer dependency: the application provides the one core every plugin shares.
The plugin author's guide of the Beamline repository (\`docs/plugin-guide.md\`) explains the contracts,
the lifecycle, dependency injection, errors, events and cancellation.
`;
}
