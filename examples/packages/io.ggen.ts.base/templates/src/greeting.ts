/**
 * Returns the greeting for `name`.
 *
 * @example greeting("Ada") // "Hello, Ada!"
 */
export function greeting(name = "world"): string {
  return `Hello, ${name}!`;
}
