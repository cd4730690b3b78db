// Artillery processor for CreatorFlow: builds TikTok ORDER_STATUS_CHANGE webhooks and signs
// them exactly as TikTok does — Authorization = lowercase hex HMAC-SHA256(app_secret,
// app_key + body) — over the very bytes that are sent (the body is set as a string, never
// re-serialised by Artillery).
//
// Environment: CREATORFLOW_APP_KEY, CREATORFLOW_APP_SECRET (the daemon's tiktok.app_key /
// app_secret), CREATORFLOW_SHOP_ID (default 7494049642642441621).

'use strict';

const crypto = require('crypto');
const { threadId } = require('worker_threads');

const APP_KEY = process.env.CREATORFLOW_APP_KEY || '';
const APP_SECRET = process.env.CREATORFLOW_APP_SECRET || '';
const SHOP_ID = process.env.CREATORFLOW_SHOP_ID || '7494049642642441621';
const STATUSES = [
  'UNPAID',
  'ON_HOLD',
  'AWAITING_SHIPMENT',
  'AWAITING_COLLECTION',
  'IN_TRANSIT',
  'DELIVERED',
];

if (!APP_KEY || !APP_SECRET) {
  throw new Error('set CREATORFLOW_APP_KEY and CREATORFLOW_APP_SECRET to the daemon\'s TikTok app credentials');
}

// Order ids unique to this run, process and worker thread: digits only, like TikTok's.
const RUN = String(Date.now() % 1e9).padStart(9, '0');
const WORKER = String((process.pid * 31 + threadId) % 1000).padStart(3, '0');
let sequence = 0;

function signature(body) {
  return crypto.createHmac('sha256', APP_SECRET).update(APP_KEY + body).digest('hex');
}

/** A new order for this virtual user: its id, first status and base update_time. */
function newOrder(context, events, done) {
  sequence += 1;
  context.vars.orderId = `${RUN}${WORKER}${String(sequence).padStart(7, '0')}`;
  context.vars.step = 0;
  context.vars.t0 = Math.floor(Date.now() / 1000) - 3600;
  return done();
}

/** beforeRequest: the next status change of the user's order, signed. */
function signWebhook(requestParams, context, events, next) {
  const step = context.vars.step;
  const updateTime = context.vars.t0 + step;
  const body = JSON.stringify({
    type: 1,
    tts_notification_id: `art${context.vars.orderId}${step}`,
    shop_id: SHOP_ID,
    timestamp: updateTime,
    data: {
      order_id: context.vars.orderId,
      order_status: STATUSES[step % STATUSES.length],
      is_on_hold_order: false,
      update_time: updateTime,
    },
  });
  requestParams.body = body;
  requestParams.headers = Object.assign({}, requestParams.headers, {
    authorization: signature(body),
    'content-type': 'application/json',
  });
  context.vars.step = step + 1;
  return next();
}

module.exports = { newOrder, signWebhook, signature };
