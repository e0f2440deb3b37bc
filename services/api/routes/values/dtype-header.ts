/**
 * The X-Ph5-Dtype header of value answers, when it fits. A compound of hundreds of fields
 * has a dtype text of tens of KiB, and HTTP clients cap the headers of an answer (Node's
 * http client at 16 KiB in all: more and it answers nothing, HPE_HEADER_OVERFLOW). Such a
 * dtype is left out of the headers; the dataset's info, the JSON body and the .npy header
 * carry it.
 */

/** The longest dtype text sent as a header: half of Node's default limit for all headers. */
export const MAX_DTYPE_HEADER_BYTES = 8192;

/** `{ 'x-ph5-dtype': text }`, or nothing when the text is too long for a header. */
export function dtypeHeader(text: string): Record<string, string> {
  return Buffer.byteLength(text) <= MAX_DTYPE_HEADER_BYTES ? { 'x-ph5-dtype': text } : {};
}
