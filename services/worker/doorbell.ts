/**
 * The doorbell: lets idle ranks sleep in the OS instead of polling MPI.
 *
 * Ranks other than 0 spend their idle time waiting for rank 0's next plan. MPI has no
 * blocking wait that does not spin, so the native bcast polls with a backing-off sleep;
 * with many ranks those wake-ups add up (42 idle ranks: ~7-13 % of a core). Instead, each
 * rank keeps one TCP connection to rank 0 and, before every broadcast it waits for, reads
 * one byte from it: a blocked socket read costs no CPU. Rank 0 writes one byte to every
 * rank ("rings") right before each such broadcast, so the rank enters the bcast just in
 * time and the native poll is short.
 *
 * Set-up is collective (`openDoorbell` on rank 0, `joinDoorbell` on the others): rank 0
 * listens where PH5_POOL_NETWORK says (network.ts: loopback only for a pool on one host,
 * the given interfaces' addresses, or all interfaces when ranks may run on any node) and
 * broadcasts those addresses, its port and a random secret; every other rank connects, says hello (`ph5-doorbell <secret>
 * <rank> <attempt>`), and waits for an acknowledgement; a gather tells rank 0 which ranks
 * are connected, then rank 0 stops listening.
 *
 * Never hang, never skip a bcast: a rank that cannot connect, or whose connection closes
 * or fails later (rank 0 died, network), stops waiting for rings for good and polls in the
 * bcast as before. One ring per bcast; bytes that TCP delivers together count as several
 * rings. Connections without the right secret are closed and change nothing.
 *
 * The other way, a rank may raise an alarm: HDF5 failed on it *inside* a collective write,
 * so the ranks still in that collective may wait forever, and only rank 0 (whose event
 * loop is free while it waits) can act on it: it shortens the phase's deadline (watchdog).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import { mpi } from '../../native/lib/index.js';
import type { Logger } from './log.js';
import { doorbellAddresses, parsePoolNetwork } from './network.js';

/** What rank 0 sends before each broadcast the other ranks wait for. */
const RING = Buffer.from([0x07]);
/** A rank's alarm (after the hello): it left a collective write with an HDF5 failure. */
const ALARM = Buffer.from([0x15]);
/** Rank 0's answer to a good hello: the connection is counted. */
const ACK = 0x06;
const HELLO = 'ph5-doorbell';
/** A hello is one short line; anything longer is not one of ours. */
const MAX_HELLO_BYTES = 256;
const CONNECT_TIMEOUT_MS = 2000;
/** Rank 0 answers from its event loop, which may be slow to get the CPU when oversubscribed. */
const ACK_TIMEOUT_MS = 10_000;
const HELLO_TIMEOUT_MS = 15_000;

/** Rank 0's side. */
export interface DoorbellRinger {
  /** One ring to every connected rank: call right before each bcast they wait for. */
  ring(): void;
  /** Ranks that ring through the doorbell (the others poll). */
  readonly connected: number;
  /** Called with the rank that raised an alarm (see the header). */
  onAlarm(listener: (rank: number) => void): void;
  close(): void;
}

/** The other ranks' side. */
export interface DoorbellListener {
  /** Resolves at the next ring (at once if one came already, or after a fallback). */
  wait(): Promise<void>;
  /** False once this rank polls instead (could not connect, or the connection ended). */
  readonly connected: boolean;
  /** Tells rank 0 that HDF5 failed here inside a collective write (best effort). */
  alarm(): void;
  close(): void;
}

interface Invitation {
  hosts: string[];
  port: number;
  secret: string;
}

/** Names and addresses under which the other ranks (possibly on other nodes) can reach us. */
function reachableHosts(): string[] {
  const hosts = [os.hostname()];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local IPv6 needs the interface's scope, which differs on every node.
      if (a.internal || (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:'))) continue;
      hosts.push(a.address);
    }
  }
  // Last resort, right when every rank runs here and the names above do not resolve.
  hosts.push('127.0.0.1');
  return [...new Set(hosts)];
}

/** Rank 0's half of the collective set-up (the others call `joinDoorbell`), before any other bcast. */
export async function openDoorbell(size: number, log: Logger): Promise<DoorbellRinger> {
  const secret = randomBytes(32);
  const clients = new Map<number, net.Socket>();
  const unverified = new Set<net.Socket>();
  const attempts = new WeakMap<net.Socket, number>();
  let alarmed: (rank: number) => void = () => {};
  const onConnection = (socket: net.Socket) => {
    unverified.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => unverified.delete(socket));
    socket.setTimeout(HELLO_TIMEOUT_MS, () => socket.destroy());
    let hello = Buffer.alloc(0);
    const onHello = (chunk: Buffer) => {
      hello = Buffer.concat([hello, chunk]);
      const end = hello.indexOf(0x0a);
      if (end < 0) {
        if (hello.length > MAX_HELLO_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onHello);
      socket.setTimeout(0);
      unverified.delete(socket);
      const [word, presented, rankText, attemptText] = hello.subarray(0, end).toString('latin1').split(' ');
      const peer = Number(rankText);
      const attempt = Number(attemptText);
      const key = Buffer.from(presented ?? '', 'hex');
      const good =
        word === HELLO &&
        key.length === secret.length &&
        timingSafeEqual(key, secret) &&
        Number.isInteger(peer) &&
        peer > 0 &&
        peer < size &&
        Number.isInteger(attempt);
      // A rank that retried (an acknowledgement too slow to arrive) replaces its older
      // connection; the hello of an abandoned attempt, read late, replaces nothing.
      const previous = clients.get(peer);
      if (!good || (previous && attempts.get(previous)! >= attempt)) {
        socket.destroy();
        return;
      }
      previous?.destroy();
      clients.set(peer, socket);
      attempts.set(socket, attempt);
      socket.setNoDelay(true);
      socket.on('close', () => {
        if (clients.get(peer) === socket) clients.delete(peer);
      });
      // Nothing more comes from a rank but alarms.
      socket.on('data', (chunk: Buffer) => {
        if (chunk.includes(ALARM[0]!)) alarmed(peer);
      });
      socket.write(Buffer.from([ACK]));
    };
    socket.on('data', onHello);
  };
  // Unset (a pool started by hand, without the supervisor): every interface, as ranks may
  // run on any node. The supervisor always sets it (loopback by default under mpirun).
  const addresses = doorbellAddresses(parsePoolNetwork(process.env.PH5_POOL_NETWORK || 'any', 'any'), os.networkInterfaces());
  const servers: net.Server[] = [];
  const listening: string[] = [];
  let port = 0;
  // One server per address, all on the port the first one got (the invitation has one port).
  for (const address of addresses.length ? addresses : [undefined]) {
    const server = net.createServer(onConnection);
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', (err) => {
        log.warn(`doorbell: cannot listen on ${address ?? 'all interfaces'} (${err.message})`);
        resolve(false);
      });
      server.listen(port, address, () => resolve(true));
    });
    if (!ok) continue;
    port ||= (server.address() as net.AddressInfo).port;
    servers.push(server);
    if (address) listening.push(address);
  }
  if (servers.length === 0) log.warn('doorbell: cannot listen; idle ranks will poll');
  const hosts = servers.length === 0 ? [] : addresses.length ? listening : reachableHosts();
  const invitation: Invitation = { hosts, port, secret: secret.toString('hex') };
  await mpi.bcast(Buffer.from(JSON.stringify(invitation)), 0);
  const answers = (await mpi.gather(Buffer.from('1'), 0)) ?? [];
  // Only the connections of ranks that know they are connected ring; a rank that gave up
  // waits by polling, and its late connection, if any, is dropped.
  for (const [peer, socket] of clients) {
    if (answers[peer]?.toString() !== '1') {
      clients.delete(peer);
      socket.destroy();
    }
  }
  for (const server of servers) server.close();
  for (const socket of unverified) socket.destroy();
  const connected = clients.size;
  const summary = `doorbell: ${connected} of ${size - 1} ranks connected on port ${port}`;
  if (connected < size - 1) log.warn(`${summary}; the others poll`);
  else log.info(summary);
  return {
    get connected() {
      return clients.size;
    },
    ring() {
      for (const socket of clients.values()) if (socket.writable) socket.write(RING);
    },
    onAlarm(listener) {
      alarmed = listener;
    },
    close() {
      for (const socket of clients.values()) socket.end();
      clients.clear();
    },
  };
}

/** The other ranks' half of the collective set-up (rank 0 calls `openDoorbell`). */
export async function joinDoorbell(rank: number, log: Logger): Promise<DoorbellListener> {
  const invitation = JSON.parse((await mpi.bcast(null, 0)).toString('utf8')) as Invitation;
  let listener: RingListener | null = null;
  const hosts = invitation.port ? invitation.hosts : [];
  for (let attempt = 0; attempt < hosts.length && !listener; attempt++) {
    listener = await connect(hosts[attempt]!, invitation.port, `${HELLO} ${invitation.secret} ${rank} ${attempt}\n`, log);
  }
  await mpi.gather(Buffer.from(listener ? '1' : '0'), 0);
  if (!listener) {
    log.warn(`doorbell: cannot reach rank 0 (tried ${invitation.hosts.join(', ') || 'nothing'}); waiting by polling`);
    return { connected: false, wait: () => Promise.resolve(), alarm() {}, close() {} };
  }
  return listener;
}

/** Connects and says hello; listening for rings once rank 0 acknowledged it, else null. */
function connect(host: string, port: number, hello: string, log: Logger): Promise<RingListener | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let timer = setTimeout(() => fail(), CONNECT_TIMEOUT_MS);
    const fail = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(null);
    };
    const onConnect = () => {
      clearTimeout(timer);
      timer = setTimeout(fail, ACK_TIMEOUT_MS);
      socket.setNoDelay(true);
      socket.write(hello);
    };
    const onAck = (chunk: Buffer) => {
      if (chunk[0] !== ACK) return fail();
      clearTimeout(timer);
      socket.off('error', fail).off('close', fail).off('connect', onConnect).off('data', onAck);
      // Counting starts now, in this tick: a ring may follow the acknowledgement at any time.
      resolve(new RingListener(socket, chunk.length - 1, log));
    };
    socket.once('error', fail);
    socket.once('close', fail);
    socket.once('connect', onConnect);
    socket.on('data', onAck);
  });
}

class RingListener implements DoorbellListener {
  readonly #socket: net.Socket;
  readonly #log: Logger;
  #rings: number;
  #lost: string | null = null;
  #closing = false;
  #warned = false;
  #wake: (() => void) | null = null;

  constructor(socket: net.Socket, rings: number, log: Logger) {
    this.#socket = socket;
    this.#rings = rings;
    this.#log = log;
    // A dead rank 0 host would otherwise leave the read blocked until the job is torn down.
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => {
      this.#rings += chunk.length;
      this.#wake?.();
    });
    socket.on('error', (err) => this.#lose(err.message));
    socket.on('close', () => this.#lose('connection closed'));
  }

  get connected(): boolean {
    return this.#lost === null;
  }

  alarm(): void {
    if (this.#lost === null && this.#socket.writable) this.#socket.write(ALARM);
  }

  wait(): Promise<void> {
    if (this.#rings > 0) {
      this.#rings--;
      return Promise.resolve();
    }
    if (this.#lost !== null) {
      this.#warnOnce();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = null;
        if (this.#rings > 0) this.#rings--;
        resolve();
      };
    });
  }

  close(): void {
    this.#closing = true;
    this.#socket.destroy();
  }

  #lose(reason: string): void {
    if (this.#lost !== null) return;
    this.#lost = reason;
    if (this.#wake) {
      this.#warnOnce();
      this.#wake();
    }
  }

  /**
   * Said when the loss matters (a wait), not when it happens: rank 0 closes the doorbell
   * at drain, after the last bcast, and that is not worth a warning.
   */
  #warnOnce(): void {
    if (this.#warned || this.#closing) return;
    this.#warned = true;
    this.#log.warn(`doorbell: ${this.#lost}; waiting by polling from now on`);
  }
}
