import { describe, expect, it } from 'vitest';
import { isCoreError } from '../errors/core-error.js';
import {
  formatReference,
  interpolate,
  listReferences,
  lookupPath,
  parseExpression,
  parseTemplate,
  resolveExpressions,
  type ReferenceResolver,
} from './expressions.js';

function syntaxError(text: string): string {
  try {
    parseTemplate(text);
  } catch (error) {
    expect(isCoreError(error, 'CORE_EXPRESSION_INVALID')).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`expected a syntax error for ${text}`);
}

describe('parseTemplate', () => {
  it('splits text and expressions', () => {
    expect(parseTemplate('a ${{ params.x }} b')).toEqual([
      { kind: 'text', text: 'a ' },
      { kind: 'expression', reference: { root: 'params', path: ['x'] } },
      { kind: 'text', text: ' b' },
    ]);
    expect(parseTemplate('plain')).toEqual([{ kind: 'text', text: 'plain' }]);
  });

  it('reads dotted paths, indexes and quoted keys', () => {
    expect(parseExpression("steps.train-model.outputs['best model'][0].path")).toEqual({
      root: 'steps',
      path: ['train-model', 'outputs', 'best model', 0, 'path'],
    });
    expect(parseExpression('matrix["k"]')).toEqual({ root: 'matrix', path: ['k'] });
    expect(parseTemplate('${{params.x}}')).toEqual([
      { kind: 'expression', reference: { root: 'params', path: ['x'] } },
    ]);
  });

  it('reads $${{ as a literal ${{', () => {
    expect(parseTemplate('$${{ not.an.expression }}')).toEqual([
      { kind: 'text', text: '${{ not.an.expression }}' },
    ]);
  });

  it('reports precise syntax errors', () => {
    expect(syntaxError('x ${{ params. }}')).toBe(
      "invalid expression ${{ params. }} at column 14: expected a name after '.', found ' '",
    );
    expect(syntaxError('${{ }}')).toContain('empty expression');
    expect(syntaxError('${{ params.x')).toContain(
      "expected '}}' after params.x, found the end of the string",
    );
    expect(syntaxError('${{ params.x + 1 }}')).toContain("expected '}}' after params.x, found '+'");
    expect(syntaxError('${{ run("rm -rf /") }}')).toContain("expected '}}' after run, found '('");
    expect(syntaxError('${{ params[x] }}')).toContain(
      "expected an index [n] or a quoted key ['key'], found 'x'",
    );
    expect(syntaxError("${{ params['x }}")).toContain('unterminated quoted key');
    expect(syntaxError('${{ params[0 }}')).toContain("expected ']', found '}'");
    expect(syntaxError('${{ 1abc }}')).toContain('expected a name such as params, steps or matrix');
  });
});

describe('formatReference', () => {
  it('writes a canonical path', () => {
    expect(formatReference({ root: 'steps', path: ['a', 'outputs', 'b.c', 2] })).toBe(
      "steps.a.outputs['b.c'][2]",
    );
  });
});

describe('listReferences', () => {
  it('lists references with the path of their string, and syntax errors', () => {
    const { references, errors } = listReferences(
      { a: ['${{ params.x }}', { b: 'y ${{ matrix.k }}' }], c: '${{ bad. }}' },
      ['with'],
    );
    expect(references).toEqual([
      { path: ['with', 'a', 0], reference: { root: 'params', path: ['x'] } },
      { path: ['with', 'a', 1, 'b'], reference: { root: 'matrix', path: ['k'] } },
    ]);
    expect(errors.map((e) => e.path)).toEqual([['with', 'c']]);
  });
});

describe('resolveExpressions', () => {
  const scope = { params: { n: 3, list: ['a', 'b'], cfg: { lr: 0.1 }, text: 'hi' } };
  const resolver: ReferenceResolver = (reference) =>
    reference.root === 'params' ? { value: lookupPath(scope.params, reference.path) } : undefined;

  it('keeps the type of a string that is exactly one expression', () => {
    expect(resolveExpressions('${{ params.n }}', resolver)).toBe(3);
    expect(resolveExpressions('${{ params.list }}', resolver)).toEqual(['a', 'b']);
    expect(resolveExpressions('${{ params.cfg }}', resolver)).toEqual({ lr: 0.1 });
    expect(resolveExpressions('${{ params.list[1] }}', resolver)).toBe('b');
    expect(resolveExpressions("${{ params['cfg'].lr }}", resolver)).toBe(0.1);
  });

  it('interpolates into longer strings, objects as JSON', () => {
    expect(
      resolveExpressions('n=${{ params.n }} list=${{ params.list }} cfg=${{ params.cfg }}', resolver),
    ).toBe('n=3 list=["a","b"] cfg={"lr":0.1}');
    expect(resolveExpressions('[${{ params.missing }}]', resolver)).toBe('[]');
  });

  it('walks arrays and objects and leaves other values alone', () => {
    expect(
      resolveExpressions({ a: ['${{ params.text }}', 1, true, null], b: { c: '${{ params.n }}' } }, resolver),
    ).toEqual({
      a: ['hi', 1, true, null],
      b: { c: 3 },
    });
  });

  it('fails in final mode when a reference cannot resolve', () => {
    expect(() => resolveExpressions('${{ steps.a.outputs.b }}', resolver)).toThrow(
      /cannot resolve \$\{\{ steps.a.outputs.b }}/,
    );
  });

  it('keeps unresolved references in partial mode and escapes substituted text', () => {
    const partial = resolveExpressions(
      { a: '${{ steps.a.outputs.b }}', b: '${{ params.n }}/${{ steps.a.outputs.b }}', c: '$${{ literal }}' },
      resolver,
      'partial',
    );
    expect(partial).toEqual({
      a: '${{ steps.a.outputs.b }}',
      b: '3/${{ steps.a.outputs.b }}',
      c: '$${{ literal }}',
    });
    const final = resolveExpressions(partial, () => ({ value: 'out' }));
    expect(final).toEqual({ a: 'out', b: '3/out', c: '${{ literal }}' });
  });

  it('does not let a substituted value turn into an expression later', () => {
    const sneaky: ReferenceResolver = (r) =>
      r.root === 'params' ? { value: { v: '${{ steps.x.outputs.y }}' } } : undefined;
    const partial = resolveExpressions(['${{ params.p }}', 'a ${{ params.p }}'], sneaky, 'partial');
    expect(resolveExpressions(partial, () => undefined)).toEqual([
      { v: '${{ steps.x.outputs.y }}' },
      'a {"v":"${{ steps.x.outputs.y }}"}',
    ]);
  });
});

describe('lookupPath and interpolate', () => {
  it('follow paths and read values as text', () => {
    expect(lookupPath({ a: [{ b: 1 }] }, ['a', 0, 'b'])).toBe(1);
    expect(lookupPath({ a: 1 }, ['a', 'b'])).toBeUndefined();
    expect(lookupPath({}, ['toString'])).toBeUndefined();
    expect(interpolate(null)).toBe('');
    expect(interpolate(false)).toBe('false');
    expect(interpolate([1])).toBe('[1]');
  });
});
