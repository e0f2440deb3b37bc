/**
 * A file's object tree for GET /v1/files/{file}: groups with their members, datasets with
 * dtype and shape, links with their targets, and every object's attribute names, read
 * depth-first from a file open serially. Bounded: past `limit` objects the walk stops and
 * says so (a file with millions of objects is listed group by group instead).
 */
import type { H5File } from '../../../native/lib/index.js';
import { dtypeSpec, type DtypeSpec } from '../../shared/dtype.js';
import { unreadable, type Unreadable } from './unreadable.js';

export interface TreeNode {
  path: string;
  kind: 'group' | 'dataset' | 'datatype' | 'softlink' | 'external' | 'other';
  attributes?: string[];
  dtype?: DtypeSpec;
  shape?: number[];
  maxshape?: (number | null)[];
  target?: string;
  file?: string;
  children?: TreeNode[];
  /** A dataset whose type ph5 cannot name: listed with why, without dtype and shape. */
  error?: Unreadable;
}

export const TREE_LIMIT = 10_000;

export async function readTree(f: H5File, limit = TREE_LIMIT): Promise<{ root: TreeNode; objects: number; truncated: boolean }> {
  let objects = 0;
  let truncated = false;
  const join = (parent: string, name: string) => (parent === '/' ? `/${name}` : `${parent}/${name}`);
  const visit = async (path: string, kind: TreeNode['kind']): Promise<TreeNode> => {
    objects++;
    const node: TreeNode = { path, kind };
    if (kind === 'group' || kind === 'dataset') node.attributes = await f.listAttributes(path);
    if (kind === 'dataset') {
      try {
        const info = await f.datasetInfo(path);
        node.dtype = dtypeSpec(info.dtype);
        node.shape = info.shape;
        node.maxshape = info.maxshape.map((d) => (d === -1 ? null : d));
      } catch (err) {
        // One dataset ph5 cannot read does not hide the rest of the file.
        const error = unreadable(err);
        if (!error) throw err;
        node.error = error;
      }
    }
    if (kind === 'group') {
      node.children = [];
      for (const entry of await f.list(path)) {
        if (objects >= limit) {
          truncated = true;
          break;
        }
        const child = join(path, entry.name);
        if (entry.kind === 'softlink' || entry.kind === 'external') {
          objects++;
          node.children.push({ path: child, kind: entry.kind, ...(entry.target ? { target: entry.target } : {}), ...(entry.file ? { file: entry.file } : {}) });
        } else {
          node.children.push(await visit(child, entry.kind));
        }
      }
    }
    return node;
  };
  const root = await visit('/', 'group');
  return { root, objects, truncated };
}
