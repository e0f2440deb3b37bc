/**
 * ioredis's Sentinel connector, with one race fixed: a failover announced while a client is
 * reconnecting must not end the client.
 *
 * ioredis subscribes to `+switch-master` on the sentinels (failoverDetector) and, when it
 * fires, drops the connection so the client reconnects to the new primary. It does so by
 * calling the connector's disconnect(), the same call as a deliberate close. When the
 * primary's host died, every client is already reconnecting when the sentinels announce the
 * switch (a second or two later); if a reconnect is in the middle of asking a sentinel for
 * the primary at that moment, the "disconnect" aborts it with "Connection is closed" and
 * ioredis gives the client up for good (status `end`, no more reconnects): the API answered
 * 503 for every request and the pool took no job, with Redis healthy again, until restarted
 * (the stall of test/integration/sentinel-failover.test.ts).
 *
 * Here the announcement is kept apart from a deliberate disconnect: while a connect is in
 * progress it only marks that connect stale (its answer may name the old primary), and a
 * stale connect is done again from the sentinels instead of being used; otherwise it drops
 * the connection as ioredis does. A deliberate disconnect still aborts a connect.
 *
 * Given to ioredis as the `Connector` option (services/shared/redis.ts), so duplicates of a
 * client (BullMQ's blocking connections) get it too.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

type ErrorEmitter = (type: string, err: Error) => void;

/** The part of ioredis's (internal) SentinelConnector this relies on. */
interface SentinelConnectorBase {
  connect(eventEmitter: ErrorEmitter): Promise<Socket>;
  disconnect(): void;
  initFailoverDetector(): Promise<void>;
}
type SentinelConnectorClass = new (options: unknown) => SentinelConnectorBase;

/** ioredis's failover detector: disconnect() is what `+switch-master` calls. */
interface FailoverDetectorLike {
  isDisconnected: boolean;
  disconnect(): void;
}

const require = createRequire(import.meta.url);
// Not exported by ioredis's index; pinned by test/unit/sentinel-connector.test.ts.
const { default: IoredisSentinelConnector } = require('ioredis/built/connectors/SentinelConnector/index.js') as { default: SentinelConnectorClass };

export class FailoverSafeSentinelConnector extends IoredisSentinelConnector {
  /** A connect() is under way (asking the sentinels, or opening the primary's socket). */
  #connecting = false;
  /** The sentinels announced a new primary while that connect was under way. */
  #switched = false;

  override async connect(eventEmitter: ErrorEmitter): Promise<Socket> {
    this.#connecting = true;
    try {
      for (;;) {
        this.#switched = false;
        const stream = await super.connect(eventEmitter);
        if (!this.#switched) return stream;
        // Resolved before the switch: it may be the old primary. Ask again.
        stream.destroy();
      }
    } finally {
      this.#connecting = false;
    }
  }

  override async initFailoverDetector(): Promise<void> {
    const done = super.initFailoverDetector();
    // Set synchronously by the call above (undefined when failoverDetector is off).
    const detector = (this as unknown as { failoverDetector?: FailoverDetectorLike | null }).failoverDetector;
    if (detector) {
      detector.disconnect = () => {
        detector.isDisconnected = true;
        this.failoverAnnounced();
      };
    }
    return done;
  }

  /** `+switch-master` from a sentinel. Public for the unit test. */
  failoverAnnounced(): void {
    if (this.#connecting) this.#switched = true;
    else this.disconnect();
  }
}
