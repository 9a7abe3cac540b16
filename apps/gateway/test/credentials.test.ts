import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreCache } from '../src/feishu/credentials.js';
import { openStore, type Store } from '../src/store/index.js';
import { testDatabaseUrl, testStoreOptions } from './support.js';

const silent = pino({ level: 'silent' });
const open: Store[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close().catch(() => undefined)));
});

describe('StoreCache (the SDK token cache in the database)', () => {
  it('answers a read the database cannot serve as a miss, never a rejection (the SDK does not await every get)', async () => {
    const store = await openStore(testDatabaseUrl(), silent, testStoreOptions);
    open.push(store);
    const cache = new StoreCache(store);
    const ticketKey = Symbol('app-ticket');
    await cache.set(ticketKey, 'ticket-1', undefined, { namespace: 'cli_1' });
    expect(await new StoreCache(store).get(ticketKey, { namespace: 'cli_1' })).toBe('ticket-1');
    await store.close();
    // Closed (as at shutdown, while the SDK's constructor still checks for a ticket): a miss.
    await expect(new StoreCache(store).get(ticketKey, { namespace: 'cli_1' })).resolves.toBeUndefined();
  });
});
