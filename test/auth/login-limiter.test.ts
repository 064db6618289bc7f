import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginLimiter } from '../../auth/login-limiter.ts';
import { testClock } from '../helpers/auth-fixtures.ts';

const MIN = 60_000;
const limited = (e: unknown) => (e as { code?: string }).code === 'BULWARK_RATE_LIMITED';

function fail(l: LoginLimiter, user: string, addr: string, n: number): void {
  for (let i = 0; i < n; i++) {
    l.check(user, addr);
    l.recordFailure(user, addr);
  }
}

test('blocks after 5 failures within the window and recovers after the block', () => {
  const clock = testClock();
  const l = new LoginLimiter({ now: clock.now });
  fail(l, 'alice@pbs', '10.0.0.1', 4);
  l.check('alice@pbs', '10.0.0.1');
  l.recordFailure('alice@pbs', '10.0.0.1');
  assert.throws(() => l.check('alice@pbs', '10.0.0.1'), (e: Error) => limited(e) && /retry in 60 seconds/.test(e.message));
  assert.throws(() => l.check('alice@pbs', '10.9.9.9'), limited, 'the user is blocked from any address');
  assert.throws(() => l.check('bob@pbs', '10.0.0.1'), limited, 'the address is blocked for any user');
  l.check('bob@pbs', '10.9.9.9');
  clock.advance(30_000);
  assert.equal(l.retryAfter('alice@pbs', '10.9.9.9'), 30);
  clock.advance(30_000);
  l.check('alice@pbs', '10.0.0.1');
  assert.equal(l.retryAfter('alice@pbs', '10.0.0.1'), 0);
});

test('failures spread wider than the window do not block', () => {
  const clock = testClock();
  const l = new LoginLimiter({ now: clock.now });
  for (let i = 0; i < 20; i++) {
    fail(l, 'alice@pbs', '10.0.0.1', 1);
    clock.advance(3 * MIN); // at most 4 failures in any 10 minutes
  }
  l.check('alice@pbs', '10.0.0.1');
});

test('each further block doubles, up to the maximum; a long quiet period starts over', () => {
  const clock = testClock();
  const l = new LoginLimiter({ now: clock.now, baseBlockMs: MIN, maxBlockMs: 4 * MIN });
  const waits: number[] = [];
  for (let round = 0; round < 5; round++) {
    fail(l, 'alice@pbs', `10.0.0.${round}`, 5);
    waits.push(l.retryAfter('alice@pbs', 'elsewhere'));
    clock.advance(waits[round]! * 1000);
  }
  assert.deepEqual(waits, [60, 120, 240, 240, 240]);
  clock.advance(25 * 3600_000);
  fail(l, 'alice@pbs', '10.1.1.1', 5);
  assert.equal(l.retryAfter('alice@pbs', 'elsewhere'), 60);
});

test('success resets the user’s counter but not the address’s', () => {
  const clock = testClock();
  const l = new LoginLimiter({ now: clock.now });
  fail(l, 'alice@pbs', '10.0.0.1', 4);
  l.recordSuccess('alice@pbs');
  fail(l, 'alice@pbs', '10.0.0.2', 4);
  l.check('alice@pbs', '10.0.0.3');
  fail(l, 'bob@pbs', '10.0.0.1', 1); // the address reaches 5
  assert.throws(() => l.check('carol@pbs', '10.0.0.1'), limited);
});

test('memory is bounded: old and least recent entries are evicted', () => {
  const clock = testClock();
  const l = new LoginLimiter({ now: clock.now, maxEntries: 100 });
  for (let i = 0; i < 1000; i++) l.recordFailure(`u${i}@pbs`, `10.0.${i >> 8}.${i & 255}`);
  assert.ok(l.size <= 100, `size ${l.size}`);
  fail(l, 'alice@pbs', '10.9.9.9', 5);
  for (let i = 0; i < 40; i++) l.recordFailure(`v${i}@pbs`, '10.8.8.8');
  assert.throws(() => l.check('alice@pbs', '10.7.7.7'), limited, 'a recent block survives eviction');
});
