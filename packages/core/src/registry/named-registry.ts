import { CoreError, type CoreErrorCode } from '../errors/core-error.js';

/** Things registered under a unique name: commands, runners, services. */
export class NamedRegistry<T extends { readonly name: string }> {
  private readonly items = new Map<string, T>();

  /**
   * @param kind what the items are, for messages (`command`)
   */
  constructor(
    private readonly kind: string,
    private readonly codes: { duplicate: CoreErrorCode; unknown: CoreErrorCode },
  ) {}

  add(item: T): void {
    if (this.items.has(item.name)) {
      throw new CoreError(
        this.codes.duplicate,
        `A ${this.kind} named "${item.name}" is already registered.`,
        {
          details: { name: item.name },
        },
      );
    }
    this.items.set(item.name, item);
  }

  get(name: string): T | undefined {
    return this.items.get(name);
  }

  /** The item, or a coded error that lists what is registered. */
  require(name: string): T {
    const item = this.items.get(name);
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
    return [...this.items.values()];
  }
}
