// Notifications in plain words: each event says what happened to the reader, by name, and never shows
// internal words such as a transaction number.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeEvent } from '../../crates/hongbao-http/assets/js/notices.js';

const names = { usr_alice: 'Alice', usr_bob: 'Bob' };
const context = me => ({ me, nameOf: id => names[id] || id, currency: 'CNY' });
const event = (type, data) => ({ id: '1', type, subject_id: 'x', created_at: '2026-01-01T00:00:00Z', data });

test('a transfer reads differently for its sender and its recipient', () => {
  const created = event('transfer.created', { amount: '500', sender_id: 'usr_alice', recipient_id: 'usr_bob', status: 'pending' });
  assert.equal(describeEvent(created, context('usr_bob')).text, 'Alice sent you ¥5.00. Accept it in your chat.');
  assert.equal(describeEvent(created, context('usr_alice')).text, 'You sent Bob ¥5.00; waiting for them to accept.');
  const settled = event('transfer.settled', { amount: '500', sender_id: 'usr_alice', recipient_id: 'usr_bob' });
  assert.equal(describeEvent(settled, context('usr_bob')).text, '¥5.00 from Alice is in your wallet.');
});

test('packets, freezes and alerts are said in words; alerts are marked', () => {
  const claimed = describeEvent(event('packet.claimed', { amount: '123', txn_no: 'txn_23ogg7so22rf4pt5hcbj' }), context('usr_bob'));
  assert.equal(claimed.text, 'You got ¥1.23; it is in your wallet.');
  assert.equal(describeEvent(event('packet.received', { sender_id: 'usr_alice', group_id: 'grp_x' }), context('usr_bob')).text, 'Alice sent a red packet to your group.');
  assert.equal(describeEvent(event('packet.exhausted', { luckiest_user_id: 'usr_bob' }), context('usr_bob')).text, 'All shares of the red packet were claimed. You were the luckiest!');
  assert.equal(describeEvent(event('packet.exhausted', { luckiest_user_id: 'usr_alice' }), context('usr_bob')).text, 'All shares of the red packet were claimed. Alice was the luckiest.');
  const frozen = describeEvent(event('freeze.placed', { scope: 'full' }), context('usr_bob'));
  assert.ok(frozen.alert);
  const device = describeEvent(event('alert.raised', { reason: 'new_device', device: 'web-1' }), context('usr_bob'));
  assert.ok(device.alert);
  assert.equal(device.title, 'New device');
});

test('no notification shows a transaction number or an internal event name', () => {
  const types = ['wallet.topped_up', 'wallet.withdrawn', 'packet.sent', 'packet.received', 'packet.claimed', 'packet.exhausted', 'packet.refunded', 'transfer.created',
    'transfer.accepted', 'transfer.settled', 'transfer.returned', 'transfer.cancelled', 'transfer.expired', 'return_request.created', 'return_request.accepted',
    'return_request.declined', 'return_request.expired', 'complaint.updated', 'freeze.placed', 'freeze.lifted', 'case.refunded', 'transaction.reversed', 'alert.raised', 'something.new'];
  for (const type of types) {
    const words = describeEvent(event(type, { amount: '100', txn_no: 'txn_secret', sender_id: 'usr_alice', recipient_id: 'usr_bob', status: 'resolved', reason: 'velocity' }), context('usr_bob'));
    const text = `${words.title} ${words.text}`;
    assert.ok(!text.includes('txn_') && !text.includes(type) && !text.includes('_'), `${type}: ${text}`);
  }
});
