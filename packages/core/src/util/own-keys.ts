/**
 * Objects keyed by names users choose (step ids, param names, output and metric names, env variables).
 * Two things go wrong with such keys on ordinary objects: a lookup of `constructor`, `toString` or
 * `hasOwnProperty` finds `Object.prototype`'s member when the object has no such key, and an assignment
 * to `__proto__` replaces the object's prototype instead of storing the value (the key vanishes). The
 * helpers here read own properties only and write `__proto__` as data.
 */

/** The one key an assignment never stores: `obj['__proto__'] = v` replaces the prototype. */
export const PROTOTYPE_KEY = '__proto__';

/** The value of an own property; undefined when the object has no such key of its own. */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Sets a key as an own data property, `__proto__` included. */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === PROTOTYPE_KEY)
    Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
  else record[key] = value;
}

/**
 * The paths of every own `__proto__` key in a tree of plain objects and arrays (as JSON and YAML give
 * them), in document order; empty when there is none. Such a key cannot pass through a schema library
 * or an `Object.assign` (it is dropped or becomes a prototype), so inputs that go there refuse it.
 */
export function reservedKeyPaths(value: unknown): (string | number)[][] {
  const found: (string | number)[][] = [];
  const path: (string | number)[] = [];
  // Only the ancestors are remembered, to stop at a cycle: a set of every object seen would cost memory
  // in proportion to a 100,000-step pipeline.
  const ancestors: object[] = [];
  const visit = (node: object): void => {
    if (ancestors.includes(node)) return;
    ancestors.push(node);
    if (Array.isArray(node)) {
      for (let index = 0; index < node.length; index++) {
        const item: unknown = node[index];
        if (typeof item !== 'object' || item === null) continue;
        path.push(index);
        visit(item);
        path.pop();
      }
    } else if (isPlainRecord(node)) {
      // Called for every object of a pipeline (100,000 steps): only keys and objects cost anything.
      for (const key of Object.keys(node)) {
        if (key === PROTOTYPE_KEY) found.push([...path, key]);
        const item = node[key];
        if (typeof item !== 'object' || item === null) continue;
        path.push(key);
        visit(item);
        path.pop();
      }
    }
    ancestors.pop();
  };
  if (typeof value === 'object' && value !== null) visit(value);
  return found;
}

function isPlainRecord(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
