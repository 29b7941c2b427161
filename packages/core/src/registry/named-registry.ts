import { CoreError, type CoreErrorCode } from '../errors/core-error.js';

/** Things registered under a unique name: commands, runners, services (internal to the runtime). */
export class NamedRegistry<T extends { readonly name: string }> {
  private readonly items = new Map<string, { item: T; owner: string }>();

  /**
   * @param kind what the items are, for messages (`command`)
   */
  constructor(
    private readonly kind: string,
    private readonly codes: { duplicate: CoreErrorCode; unknown: CoreErrorCode },
  ) {}

  /** @param owner who adds it (a plugin's name, `core`), named in a duplicate's message */
  add(item: T, owner: string): void {
    const existing = this.items.get(item.name);
    if (existing !== undefined) {
      throw new CoreError(
        this.codes.duplicate,
        `Plugin "${owner}" adds a ${this.kind} named "${item.name}", which ${
          existing.owner === owner ? 'it' : `plugin "${existing.owner}"`
        } already registered.`,
        { details: { name: item.name, plugin: owner, registeredBy: existing.owner } },
      );
    }
    this.items.set(item.name, { item, owner });
  }

  get(name: string): T | undefined {
    return this.items.get(name)?.item;
  }

  /** The item, or a coded error that lists what is registered. */
  require(name: string): T {
    const item = this.get(name);
    if (item === undefined) {
      throw new CoreError(
        this.codes.unknown,
        `Unknown ${this.kind} "${name}"; registered: ${this.names().join(', ') || 'none'}.`,
        { details: { name, known: this.names() } },
      );
    }
    return item;
  }

  has(name: string): boolean {
    return this.items.has(name);
  }

  names(): string[] {
    return [...this.items.keys()].sort();
  }

  values(): T[] {
    return [...this.items.values()].map(({ item }) => item);
  }
}
