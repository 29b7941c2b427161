/**
 * A `::metric` or `::progress` line of a step's stdout. The log keeps them, but each also arrives as its
 * own event, which the renderers show better; printing both would say everything twice. (`::output`
 * lines stay: outputs have no event of their own until the step ends.)
 */
export function isEventMarker(line: string): boolean {
  return /^::(?:metric|progress)\s/.test(line);
}
