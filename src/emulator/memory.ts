/**
 * What the emulator's bounded stores (the request log, contacts and messages) charge for what they keep: an upper
 * bound on V8's heap, not the length of the text. V8 keeps a string in one byte a character when it can and two
 * otherwise; the bound charges two, and a header.
 */
export function stringBytes(text: string | null): number {
  return text === null ? 0 : 16 + 2 * text.length;
}

/** What an object of a few fields costs besides its strings (its shape, its slots, the reference to it). */
export const recordBytes = 256;
