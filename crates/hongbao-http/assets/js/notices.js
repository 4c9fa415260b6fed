// Notifications in plain words: what each event means for the person reading it ("Alice sent you
// ¥5.00"), never the internal words of the API ("transfer created · txn no: txn_…"). Pure: the names
// and the currency come in as arguments, so every text is tested with Node.

import { formatCurrency } from './format.js';
import { t } from './i18n.js';

/**
 * What an event says: `{ icon, title, text, tone, alert }`. `context` is `{ me, nameOf, currency }`:
 * the reader's user id, a function from user id to name, and the deployment's currency.
 */
export function describeEvent(event, context) {
  const data = event.data || {};
  const money = minor => formatCurrency(minor, context.currency || 'CNY');
  const name = id => (id ? context.nameOf(id) : t('Someone'));
  const mine = id => id === context.me;
  const plain = (iconName, title, text, tone = '') => ({ icon: iconName, title, text, tone, alert: false });
  switch (event.type) {
    case 'wallet.topped_up':
      return plain('down', t('Money added'), t('{amount} was added to your wallet.', { amount: money(data.amount) }), 'good');
    case 'wallet.withdrawn':
      return plain('up', t('Withdrawal'), t('You withdrew {amount}.', { amount: money(data.amount) }));
    case 'packet.sent':
      return plain('packet', t('Red packet sent'), t('You sent a red packet of {amount}.', { amount: money(data.total_amount) }));
    case 'packet.received':
      return plain('packet', t('New red packet'), data.group_id
        ? t('{name} sent a red packet to your group.', { name: name(data.sender_id) })
        : t('{name} sent you a red packet.', { name: name(data.sender_id) }), 'red');
    case 'packet.claimed':
      return plain('packet', t('Red packet opened'), t('You got {amount}; it is in your wallet.', { amount: money(data.amount) }), 'good');
    case 'packet.exhausted':
      if (!data.luckiest_user_id) return plain('crown', t('Every share claimed'), t('All shares of the red packet were claimed.'));
      return plain('crown', t('Every share claimed'), mine(data.luckiest_user_id)
        ? t('All shares of the red packet were claimed. You were the luckiest!')
        : t('All shares of the red packet were claimed. {name} was the luckiest.', { name: name(data.luckiest_user_id) }), mine(data.luckiest_user_id) ? 'good' : '');
    case 'packet.refunded':
      return plain('undo', data.status === 'recalled' ? t('Red packet recalled') : t('Red packet expired'),
        t('{amount} that nobody claimed came back to your wallet.', { amount: money(data.refunded_amount) }));
    case 'transfer.created':
      return mine(data.recipient_id)
        ? plain('transfer', t('Transfer for you'), t('{name} sent you {amount}. Accept it in your chat.', { name: name(data.sender_id), amount: money(data.amount) }), 'red')
        : plain('transfer', t('Transfer sent'), t('You sent {name} {amount}; waiting for them to accept.', { name: name(data.recipient_id), amount: money(data.amount) }));
    case 'transfer.accepted':
      return mine(data.recipient_id)
        ? plain('clock', t('Transfer accepted'), t('You accepted {amount} from {name}; it arrives at its time.', { name: name(data.sender_id), amount: money(data.amount) }))
        : plain('clock', t('Transfer accepted'), t('{name} accepted your {amount}; it arrives at its time.', { name: name(data.recipient_id), amount: money(data.amount) }));
    case 'transfer.settled':
      return mine(data.recipient_id)
        ? plain('check', t('Transfer received'), t('{amount} from {name} is in your wallet.', { name: name(data.sender_id), amount: money(data.amount) }), 'good')
        : plain('check', t('Transfer received'), t('{name} received your {amount}.', { name: name(data.recipient_id), amount: money(data.amount) }));
    case 'transfer.returned':
      return mine(data.recipient_id)
        ? plain('undo', t('Transfer returned'), t('You returned {amount} to {name}.', { name: name(data.sender_id), amount: money(data.amount) }))
        : plain('undo', t('Transfer returned'), t('{name} returned your {amount}; it is back in your wallet.', { name: name(data.recipient_id), amount: money(data.amount) }));
    case 'transfer.cancelled':
      return mine(data.recipient_id)
        ? plain('undo', t('Transfer cancelled'), t('{name} cancelled the transfer of {amount}.', { name: name(data.sender_id), amount: money(data.amount) }))
        : plain('undo', t('Transfer cancelled'), t('You cancelled the transfer of {amount} to {name}; it is back in your wallet.', { name: name(data.recipient_id), amount: money(data.amount) }));
    case 'transfer.expired':
      return mine(data.recipient_id)
        ? plain('clock', t('Transfer expired'), t('The transfer of {amount} from {name} was not accepted in time and went back.', { name: name(data.sender_id), amount: money(data.amount) }))
        : plain('clock', t('Transfer expired'), t('{name} did not accept your {amount} in time; it is back in your wallet.', { name: name(data.recipient_id), amount: money(data.amount) }));
    case 'return_request.created':
      return plain('undo', t('Money-back request'), t('A request to return {amount} was made. See Money back in your wallet.', { amount: money(data.amount) }), 'red');
    case 'return_request.accepted':
      return plain('undo', t('Money-back request'), t('The request to return {amount} was accepted; the money went back.', { amount: money(data.amount) }));
    case 'return_request.declined':
      return plain('undo', t('Money-back request'), t('The request to return {amount} was declined.', { amount: money(data.amount) }));
    case 'return_request.expired':
      return plain('clock', t('Money-back request'), t('The request to return {amount} got no answer in time.', { amount: money(data.amount) }));
    case 'complaint.updated':
      return plain('shield', t('Your complaint'), complaintText(data));
    case 'freeze.placed':
      return { icon: 'snow', title: t('Wallet frozen'), text: data.scope === 'hold'
        ? t('{amount} of your wallet is on hold while the platform looks into a case.', { amount: money(data.amount) })
        : t('No money can leave your wallet while the platform looks into it. Money still arrives.'), tone: 'alert', alert: true };
    case 'freeze.lifted':
      return plain('check', t('Freeze lifted'), t('Your wallet is no longer frozen.'), 'good');
    case 'case.refunded':
      return plain('shield', t('Refund through a complaint'), t('The platform moved {amount} in a complaint you are part of.', { amount: money(data.amount) }));
    case 'transaction.reversed':
      return plain('scale', t('Payment reversed'), t('The platform reversed a payment of yours on a legal order.'));
    case 'alert.raised':
      return alertText(data, money);
    default:
      return plain('bell', t('Update'), t('Something changed in your account.'));
  }
}

function complaintText(data) {
  if (data.status === 'resolved') {
    const outcomes = { refunded: 'It was resolved: your money was refunded.', partially_refunded: 'It was resolved: part of your money was refunded.',
      rejected: 'It was resolved without a refund.', referred: 'It was passed to the police or a court.' };
    return t(outcomes[data.outcome] || 'It was resolved.');
  }
  const states = { submitted: 'It was received.', needs_evidence: 'The platform needs more evidence from you.', under_review: 'It is being reviewed.' };
  return t(states[data.status] || 'It changed.');
}

/** A security alert: what happened and what to do. */
function alertText(data, money) {
  const securityAlert = (icon, title, text) => ({ icon, title, text, tone: 'alert', alert: true });
  switch (data.reason) {
    case 'new_device':
      return securityAlert('device', t('New device'), t('Your wallet was used from a device it had not seen. If this was not you, file a complaint.'));
    case 'new_address':
      return securityAlert('globe', t('New network address'), t('Your wallet was used from a new network address ({address}). If this was not you, file a complaint.', { address: data.address || '?' }));
    case 'large_transaction':
      return securityAlert('warning', t('Large payment'), t('{amount} left your wallet in one payment. If this was not you, file a complaint.', { amount: data.amount ? money(data.amount) : '?' }));
    case 'velocity':
      return securityAlert('snow', t('Frozen for safety'), t('Too many money-back actions in a short time: your outgoing payments are paused for a while.'));
    default:
      return securityAlert('warning', t('Security alert'), t('Something unusual happened in your account.'));
  }
}
