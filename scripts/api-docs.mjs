// The API reference: TypeDoc over the TSDoc of every published package's entry points (the `source`
// targets of its `exports` map), one HTML site with a module per entry point (named as it is imported: @beamline/core/testing), in
// api-reference/ (ignored by git).
//
//   node scripts/api-docs.mjs            build api-reference/ (open api-reference/index.html)
//   node scripts/api-docs.mjs --check    build into a temporary folder and fail (exit 1) on any problem:
//                                        an undocumented export (function, class, interface, type, variable,
//                                        enum), a {@link} that resolves to nothing, a relative link in the
//                                        generated pages whose target file is missing
//   node scripts/api-docs.mjs --check core plugin-grid     only these package folders
//
// Where a plugin's docs link to core's types, they link within the one site.
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, LogLevel, ReflectionKind } from 'typedoc';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const only = args.filter((arg) => !arg.startsWith('--'));

/**
 * Exports without a TSDoc comment: each entry point's exported functions, classes, interfaces, types,
 * variables and enums (their members are described by their own comments where a reader needs them; the
 * export itself must say what it is).
 */
function undocumented(project) {
  const found = [];
  // One entry point: the project holds the exports itself; several: one module per entry point.
  const modules = (project.children ?? []).some((child) => child.kindOf(ReflectionKind.Module))
    ? project.children.filter((child) => child.kindOf(ReflectionKind.Module))
    : [project];
  for (const module of modules) {
    for (const exported of module.children ?? []) {
      // A second export of something documented where it is declared (store-kit re-exports core's reducer).
      if (exported.kindOf(ReflectionKind.Reference)) continue;
      const comment =
        exported.comment ?? exported.signatures?.find((signature) => signature.comment)?.comment;
      const said =
        comment && (comment.summary.some((part) => part.text.trim() !== '') || comment.blockTags.length > 0);
      if (said) continue;
      const where = exported.sources?.[0];
      found.push(
        `undocumented export ${module.name}: ${exported.name}` +
          (where ? ` (${relative(root, where.fullFileName)}:${where.line})` : ''),
      );
    }
  }
  return found;
}

/** Published packages: not private, with at least one `exports` entry that has a TypeScript `source`. */
function publishedPackages() {
  const found = [];
  for (const folder of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', folder);
    const manifestPath = join(dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (manifest.private === true) continue;
    const entries = Object.entries(manifest.exports ?? {})
      .filter(([, target]) => typeof target === 'object' && typeof target.source === 'string')
      .map(([subpath, target]) => ({
        name: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.replace(/^\.\//, '')}`,
        file: join(dir, target.source),
      }));
    if (entries.length > 0)
      found.push({ folder, dir, name: manifest.name, version: manifest.version, entries });
  }
  return only.length > 0 ? found.filter((pkg) => only.includes(pkg.folder)) : found;
}

/** Relative links of the generated pages whose target file does not exist. */
function brokenLinks(site) {
  const broken = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.html')) {
        const html = readFileSync(path, 'utf8');
        for (const [, href] of html.matchAll(/\shref="([^"#?]+)(?:[#?][^"]*)?"/g)) {
          if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('//')) continue; // external
          const target = resolve(dirname(path), decodeURIComponent(href));
          if (!existsSync(target)) broken.push(`${relative(site, path)} -> ${href}`);
        }
      }
    }
  };
  walk(site);
  return [...new Set(broken)];
}

/** Every package in one TypeDoc project, so that a plugin's reference links to core's types. */
async function document(packages, out) {
  const entries = packages.flatMap((pkg) => pkg.entries);
  const scratch = mkdtempSync(join(tmpdir(), 'beamline-api-tsconfig-'));
  const tsconfig = join(scratch, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(root, 'tsconfig.base.json'),
      compilerOptions: { noEmit: true },
      include: packages.map((pkg) => join(pkg.dir, 'src')),
      exclude: ['**/*.test.ts', '**/test-fixtures/**'],
    }),
  );
  const app = await Application.bootstrapWithPlugins({
    name: 'Beamline API reference',
    entryPoints: entries.map((entry) => entry.file),
    entryPointStrategy: 'resolve',
    tsconfig,
    readme: 'none',
    excludePrivate: true,
    excludeInternal: true,
    // The packages' own type-check (npm run typecheck) is the place for type errors.
    skipErrorChecking: true,
    validation: { notExported: false, invalidLink: true, rewrittenLink: true, notDocumented: false },
    logLevel: LogLevel.Warn,
    out,
    githubPages: false,
    disableSources: true,
    hideGenerator: true,
  });
  const problems = [];
  // Collect every warning and error TypeDoc reports (they are printed too).
  const log = app.logger.log.bind(app.logger);
  app.logger.log = (message, level) => {
    if (level === LogLevel.Warn || level === LogLevel.Error) problems.push(String(message));
    return log(message, level);
  };
  try {
    const project = await app.convert();
    if (!project) return [...problems, 'TypeDoc could not convert the packages'];
    // Modules are named after the import path a user writes (@beamline/core/testing), not the file.
    const names = new Map(entries.map((entry) => [moduleName(entries, entry.file), entry.name]));
    for (const child of project.children ?? []) {
      if (names.has(child.name)) child.name = names.get(child.name);
    }
    app.validate(project);
    problems.push(...undocumented(project));
    await app.generateDocs(project, out);
    return problems;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The name TypeDoc gives an entry point's module: its path from the entry points' common folder, no `/index.ts`. */
function moduleName(entries, file) {
  const dirs = entries.map((entry) => dirname(entry.file).split('/'));
  let common = dirs[0];
  for (const dir of dirs) {
    const differ = common.findIndex((part, i) => part !== dir[i]);
    if (differ !== -1) common = common.slice(0, differ);
  }
  return relative(common.join('/'), file)
    .replace(/\.ts$/, '')
    .replace(/\/index$/, '');
}

const packages = publishedPackages();
const site = check ? mkdtempSync(join(tmpdir(), 'beamline-api-')) : join(root, 'api-reference');
if (!check) rmSync(site, { recursive: true, force: true });
mkdirSync(site, { recursive: true });
let problems = [];
try {
  problems = await document(packages, site);
  // The folder is build output: it ignores itself, so no root ignore file has to know it.
  if (!check) writeFileSync(join(site, '.gitignore'), '*\n');
  if (existsSync(site)) problems.push(...brokenLinks(site).map((link) => `broken link: ${link}`));
} finally {
  if (check) rmSync(site, { recursive: true, force: true });
}
console.log(`packages: ${packages.map((pkg) => pkg.entries.map((e) => e.name).join(', ')).join('; ')}`);
for (const problem of problems) console.log(`problem: ${problem.replaceAll(root + '/', '')}`);
if (!check) console.log(`API reference: ${relative(process.cwd(), join(site, 'index.html'))}`);
console.log(
  problems.length === 0 ? 'API reference: no problems' : `API reference: ${problems.length} problem(s)`,
);
process.exitCode = problems.length === 0 ? 0 : 1;
