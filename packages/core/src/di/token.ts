/** A typed DI token: a unique symbol that remembers the type it resolves to. */
export type Token<T> = symbol & { readonly __tokenType?: T };

/** Creates a token; the description shows up in error messages. */
export function createToken<T>(description: string): Token<T> {
  return Symbol(description);
}
