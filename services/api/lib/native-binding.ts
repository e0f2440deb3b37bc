/**
 * The native binding, loaded on first use, by whoever needs it first (reads, staging): the
 * API starts, accepts writes and serves its documentation even where the addon is not
 * built (yet). A failed load is tried again at the next use.
 */
export type NativeBinding = typeof import('../../../native/lib/index.js');

let binding: Promise<NativeBinding> | undefined;

export function loadNative(): Promise<NativeBinding> {
  binding ??= import('../../../native/lib/index.js').catch((err: unknown) => {
    binding = undefined;
    throw err;
  });
  return binding;
}
