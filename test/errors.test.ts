import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulwarkError, bulwarkError, ERROR_TABLE, isBulwarkError, type ErrorCode } from '../errors.ts';
import { httpErrorBody, toWireError, wsErrorFrame } from '../transport/error-map.ts';

// Codes are API: clients branch on them. This list pins every one; removing
// or renaming a code must fail here.
const PINNED: readonly ErrorCode[] = [
  'BULWARK_ABORTED',
  'BULWARK_BAD_SCHEDULE',
  'BULWARK_ESCALATED', 'BULWARK_VERIFY_FAILED', 'BULWARK_TASK_FAILED',
  'BULWARK_BAD_UPID',
  'BULWARK_INTERNAL', 'BULWARK_INVALID_ARGUMENT', 'BULWARK_NOT_FOUND', 'BULWARK_ALREADY_EXISTS', 'BULWARK_IO',
  'BULWARK_INVALID_NAME', 'BULWARK_INVALID_BACKUP_TIME', 'BULWARK_NAMESPACE_TOO_DEEP', 'BULWARK_NAMESPACE_NOT_EMPTY', 'BULWARK_GROUP_NOT_EMPTY',
  'BULWARK_SNAPSHOT_PROTECTED', 'BULWARK_OWNER_MISMATCH', 'BULWARK_LOCKED', 'BULWARK_BAD_MAGIC', 'BULWARK_BAD_CRC',
  'BULWARK_TRUNCATED', 'BULWARK_DIGEST_MISMATCH', 'BULWARK_CHUNK_TOO_LARGE', 'BULWARK_CHUNK_SIZE_MISMATCH',
  'BULWARK_CHUNK_CRYPT_MISMATCH', 'BULWARK_DECRYPT_FAILED', 'BULWARK_KEY_REQUIRED', 'BULWARK_KEY_PASSWORD_REQUIRED', 'BULWARK_INVALID_KEY',
  'BULWARK_DECOMPRESS_FAILED', 'BULWARK_INDEX_CHECKSUM', 'BULWARK_INDEX_CORRUPT', 'BULWARK_MANIFEST_INVALID',
  'BULWARK_MANIFEST_SIGNATURE', 'BULWARK_ARCHIVE_CORRUPT', 'BULWARK_PROTOCOL', 'BULWARK_CREDIT_OVERRUN',
  'BULWARK_UNKNOWN_CHUNK', 'BULWARK_BACKUP_TIME_FUTURE', 'BULWARK_BACKUP_TIME_OLD', 'BULWARK_SESSION_ABORTED',
  'BULWARK_UNAUTHORIZED', 'BULWARK_FORBIDDEN', 'BULWARK_RATE_LIMITED', 'BULWARK_CONFIG_INVALID', 'BULWARK_CONFIG_DIGEST',
  'BULWARK_DATASTORE_UNAVAILABLE', 'BULWARK_NATIVE_MISSING', 'BULWARK_USAGE',
];

test('every error code is pinned, and every pinned code exists', () => {
  assert.deepEqual([...Object.keys(ERROR_TABLE)].sort(), [...PINNED].sort());
});

test('errors fill their template in order, keep a cause, and carry their HTTP status', () => {
  const cause = new Error('disk full');
  const err = bulwarkError('BULWARK_DIGEST_MISMATCH', 'aa', 'bb', { cause });
  assert.ok(err instanceof BulwarkError);
  assert.equal(err.code, 'BULWARK_DIGEST_MISMATCH');
  assert.equal(err.message, 'chunk digest mismatch: expected aa, computed bb');
  assert.equal(err.cause, cause);
  assert.equal(err.http, 400);
  assert.ok(isBulwarkError(err, 'BULWARK_DIGEST_MISMATCH'));
  assert.ok(!isBulwarkError(err, 'BULWARK_NOT_FOUND'));
  assert.ok(!isBulwarkError(new Error('x')));
});

test('the wire mapping keeps known errors and hides unknown ones', () => {
  const known = toWireError(bulwarkError('BULWARK_FORBIDDEN', 'alice@pbs', 'Datastore.Backup'));
  assert.deepEqual(known, { status: 403, code: 'BULWARK_FORBIDDEN', message: 'permission check failed: alice@pbs needs Datastore.Backup' });
  assert.deepEqual(JSON.parse(httpErrorBody(known)), { data: null, message: known.message, code: 'BULWARK_FORBIDDEN' });
  assert.deepEqual(wsErrorFrame(7, known), { id: 7, error: { code: 'BULWARK_FORBIDDEN', message: known.message } });
  const hidden = toWireError(new TypeError('secret internals at /etc/shadow'));
  assert.equal(hidden.status, 500);
  assert.equal(hidden.code, 'BULWARK_INTERNAL');
  assert.doesNotMatch(hidden.message, /shadow/);
  // A usage error (exit code 2) never becomes a 2xx reply.
  assert.equal(toWireError(bulwarkError('BULWARK_USAGE', 'bad flag')).status, 500);
});
