import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { checkTokenSecret, createToken, deleteToken, hashTokenSecret, listTokens, loadUsersWithTokens, verifyTokenSecret } from '../../auth/tokens.ts';
import { saveUser } from '../../config/user-config.ts';
import { addUser, makeAuthDir } from '../helpers/auth-fixtures.ts';

const d = makeAuthDir();
after(() => d.remove());
addUser(d.paths, { userid: 'alice@pbs' });
addUser(d.paths, { userid: 'bob@pbs' });

test('create shows the secret once, stores only a salted hash (0600), and verifies', () => {
  const { tokenid, value } = createToken(d.paths, 'alice@pbs', 'ci', { comment: 'CI runner', expire: 0 });
  assert.equal(tokenid, 'alice@pbs!ci');
  assert.match(value, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const shadow = readFileSync(d.paths.tokenShadow, 'utf8');
  assert.ok(!shadow.includes(value), 'secret not stored in clear');
  assert.match(JSON.parse(shadow)[tokenid], /^hmac-sha256\$/);
  assert.equal(statSync(d.paths.tokenShadow).mode & 0o777, 0o600);
  assert.ok(verifyTokenSecret(d.paths, tokenid, value));
  assert.ok(!verifyTokenSecret(d.paths, tokenid, value.replace(/.$/, (c) => (c === '0' ? '1' : '0'))), 'wrong secret');
  assert.ok(!verifyTokenSecret(d.paths, tokenid, ''), 'empty secret');
  assert.ok(!verifyTokenSecret(d.paths, 'bob@pbs!ci', value), 'same name, other user');
  assert.ok(!verifyTokenSecret(d.paths, 'alice@pbs', value), 'a user id is not a token');
  assert.ok(!verifyTokenSecret(d.paths, 'garbage', value), 'malformed id');
  assert.deepEqual(listTokens(d.paths, 'alice@pbs'), [{ tokenid, enable: true, expire: 0, comment: 'CI runner' }]);
});

test('salts differ per hash; unknown tokens never verify', () => {
  assert.notEqual(hashTokenSecret('x'), hashTokenSecret('x'));
  assert.ok(checkTokenSecret(hashTokenSecret('x'), 'x'));
  assert.ok(!checkTokenSecret(undefined, 'x'));
  assert.ok(!checkTokenSecret('sha1$abc$def', 'x'));
});

test('duplicate names, unknown users and bad names are refused', () => {
  createToken(d.paths, 'bob@pbs', 'backup');
  assert.throws(() => createToken(d.paths, 'bob@pbs', 'backup'), { code: 'BULWARK_ALREADY_EXISTS' });
  assert.throws(() => createToken(d.paths, 'nobody@pbs', 'x'), { code: 'BULWARK_NOT_FOUND' });
  for (const bad of ['', '-x', 'a b', 'a!b', 'a:b']) {
    assert.throws(() => createToken(d.paths, 'bob@pbs', bad), { code: 'BULWARK_INVALID_NAME' }, bad);
  }
  assert.deepEqual(listTokens(d.paths, 'bob@pbs').map((t) => t.tokenid), ['bob@pbs!backup']);
  assert.throws(() => listTokens(d.paths, 'nobody@pbs'), { code: 'BULWARK_NOT_FOUND' });
});

test('delete removes entry and secret; the old secret stops working, a new token gets a new secret', () => {
  const first = createToken(d.paths, 'alice@pbs', 'tmp');
  deleteToken(d.paths, first.tokenid);
  assert.ok(!verifyTokenSecret(d.paths, first.tokenid, first.value));
  assert.ok(!(first.tokenid in JSON.parse(readFileSync(d.paths.tokenShadow, 'utf8'))));
  assert.deepEqual(listTokens(d.paths, 'alice@pbs').map((t) => t.tokenid), ['alice@pbs!ci']);
  assert.throws(() => deleteToken(d.paths, first.tokenid), { code: 'BULWARK_NOT_FOUND' });
  assert.throws(() => deleteToken(d.paths, 'alice@pbs'), { code: 'BULWARK_INVALID_NAME' });
  const second = createToken(d.paths, 'alice@pbs', 'tmp');
  assert.notEqual(second.value, first.value);
  assert.ok(!verifyTokenSecret(d.paths, second.tokenid, first.value));
  assert.ok(verifyTokenSecret(d.paths, second.tokenid, second.value));
});

test('token entries live under their user in user.json and are validated on load', () => {
  const users = loadUsersWithTokens(d.paths.userConfig).data;
  assert.equal(users['alice@pbs']!.tokens!['ci']!.tokenid, 'alice@pbs!ci');
  const bad = makeAuthDir();
  try {
    saveUser(bad.paths.userConfig, { userid: 'eve@pbs', tokens: { x: { tokenid: 'alice@pbs!x' } } } as never);
    assert.throws(() => loadUsersWithTokens(bad.paths.userConfig), { code: 'BULWARK_CONFIG_INVALID' });
  } finally {
    bad.remove();
  }
});
