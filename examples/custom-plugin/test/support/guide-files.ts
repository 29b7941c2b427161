import { readFileSync } from 'node:fs';

/** One annotated code block of a guide: the file it is, and whether the tests run it as a program or a test file. */
export interface GuideFile {
  readonly path: string;
  readonly lang: string;
  readonly text: string;
  readonly run: boolean;
  readonly test: boolean;
  /** 1-based line of the opening fence, for messages. */
  readonly line: number;
}

/** Languages whose blocks must be files of the guide's project (compiled, parsed or run). */
const CHECKED_LANGUAGES = new Set(['ts', 'typescript', 'js', 'yaml', 'yml', 'json']);

const ANNOTATION = /^<!--\s*file:\s*([\w./-]+)((?:\s*;\s*(?:run|test))*)\s*-->$/;

/**
 * The code blocks of a markdown guide. Each block in a checked language must be preceded (blank lines
 * allowed) by `<!-- file: path[; run][; test] -->`; a block without one is returned in `unannotated`, so
 * the test can fail on it: no block escapes compilation.
 */
export function guideFiles(markdownPath: string): {
  files: GuideFile[];
  unannotated: { lang: string; line: number }[];
} {
  const lines = readFileSync(markdownPath, 'utf8').split('\n');
  const files: GuideFile[] = [];
  const unannotated: { lang: string; line: number }[] = [];
  let annotation: RegExpExecArray | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^```(\w*)\s*$/.exec(line);
    if (!fence) {
      const found = ANNOTATION.exec(line.trim());
      if (found) annotation = found;
      else if (line.trim() !== '') annotation = undefined;
      continue;
    }
    const lang = fence[1] ?? '';
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    if (annotation) {
      const flags = annotation[2] ?? '';
      files.push({
        path: annotation[1]!,
        lang,
        text: body.join('\n') + '\n',
        run: /\brun\b/.test(flags),
        test: /\btest\b/.test(flags),
        line: start + 1,
      });
    } else if (CHECKED_LANGUAGES.has(lang)) {
      unannotated.push({ lang, line: start + 1 });
    }
    annotation = undefined;
  }
  return { files, unannotated };
}
