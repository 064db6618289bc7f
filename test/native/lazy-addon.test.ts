import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazyAddon } from '../../native/lazy-addon.ts';

test('an addon loads at its first use, once', () => {
  const lz4 = lazyAddon<{ decodeBlock: unknown }>('lz4');
  const first = lz4();
  assert.equal(typeof first.decodeBlock, 'function');
  assert.equal(lz4(), first);
});

test('a package that cannot be loaded is BULWARK_NATIVE_MISSING at first use, naming it', () => {
  const missing = lazyAddon('bulwark-no-such-addon');
  assert.throws(missing, (err: Error & { code?: string }) => err.code === 'BULWARK_NATIVE_MISSING' && /bulwark-no-such-addon/.test(err.message));
});
