/**
 * Bearer tokens: which project a token acts in, and with which role.
 *
 * The token table comes from PH5_TOKENS_FILE (a JSON file) or PH5_TOKENS (the same JSON
 * inline). Each entry names a project and a role and gives either the token itself
 * (`token`) or its SHA-256 in hex (`sha256`), so the file need not hold the secret:
 *
 *   [{ "name": "alice", "project": "climate", "role": "write", "sha256": "9f86d0…" },
 *    { "name": "ci", "project": "climate", "role": "read", "token": "s3cret-…" }]
 *
 * Lookup hashes the presented token and compares it with EVERY entry's hash in constant
 * time (no early exit), so neither the match nor its position leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { validateProjectName } from '../shared/names.js';

export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who a request acts as. */
export interface Principal {
  /** The token entry's name (for logs), or 'anonymous' with auth off. */
  name: string;
  project: string;
  role: Role;
}

interface Entry extends Principal {
  hash: Buffer;
}

/** Whether `role` may do what `needed` allows (admin ⊃ write ⊃ read). */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class TokenTable {
  readonly #entries: Entry[];

  private constructor(entries: Entry[]) {
    this.#entries = entries;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Parses the table; throws an Error naming the bad entry (the server refuses to start). */
  static parse(json: string, source: string): TokenTable {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch (err) {
      throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
    }
    const list = Array.isArray(raw) ? raw : (raw as { tokens?: unknown })?.tokens;
    if (!Array.isArray(list)) throw new Error(`${source}: expected a JSON array of tokens (or {"tokens": [...]})`);
    const seen = new Set<string>();
    const entries = list.map((item: unknown, i): Entry => {
      const where = `${source}: entry ${i}`;
      if (typeof item !== 'object' || item === null) throw new Error(`${where} is not an object`);
      const e = item as Record<string, unknown>;
      if (typeof e.project !== 'string') throw new Error(`${where}: "project" is missing`);
      try {
        validateProjectName(e.project);
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`);
      }
      const role = e.role ?? 'write';
      if (!ROLES.includes(role as Role)) throw new Error(`${where}: "role" must be one of ${ROLES.join(', ')}`);
      let hash: Buffer;
      if (typeof e.token === 'string') {
        if (e.token.length < 16) throw new Error(`${where}: a token must have at least 16 characters`);
        hash = sha256(e.token);
      } else if (typeof e.sha256 === 'string' && /^[0-9a-fA-F]{64}$/.test(e.sha256)) {
        hash = Buffer.from(e.sha256, 'hex');
      } else {
        throw new Error(`${where}: give "token" (the secret) or "sha256" (its SHA-256, 64 hex digits)`);
      }
      const key = hash.toString('hex');
      if (seen.has(key)) throw new Error(`${where}: the same token appears twice`);
      seen.add(key);
      const name = typeof e.name === 'string' && e.name ? e.name : `token-${i}`;
      return { name, project: e.project, role: role as Role, hash };
    });
    return new TokenTable(entries);
  }

  /** The table from configuration, or null when no tokens are configured (auth off). */
  static fromConfig(config: { tokensFile: string | undefined; tokensJson: string | undefined }): TokenTable | null {
    if (config.tokensFile) return TokenTable.parse(readFileSync(config.tokensFile, 'utf8'), config.tokensFile);
    if (config.tokensJson) return TokenTable.parse(config.tokensJson, 'PH5_TOKENS');
    return null;
  }

  /** The principal a presented token stands for, or null. Constant time in the table's size. */
  lookup(token: string): Principal | null {
    const presented = sha256(token);
    let found: Entry | null = null;
    for (const entry of this.#entries) {
      // Every entry is compared; the result is only kept.
      if (timingSafeEqual(presented, entry.hash) && found === null) found = entry;
    }
    return found ? { name: found.name, project: found.project, role: found.role } : null;
  }
}

/** Whether a listen address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
