/** What a read answers with, from Accept: raw bytes, .npy, or JSON (the default). */
export function answerKind(accept: string | undefined): 'raw' | 'npy' | 'json' {
  if (/application\/octet-stream/i.test(accept ?? '')) return 'raw';
  if (/application\/x-npy/i.test(accept ?? '')) return 'npy';
  return 'json';
}
