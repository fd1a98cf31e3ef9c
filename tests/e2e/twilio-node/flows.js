// The Twilio Verify v2-compatible API driven by the official Twilio Node.js SDK, unchanged
// but for its base URL. Run by tests/e2e/test_twilio_verify_node.py against a real
// `secinfo serve`; prints one line per flow and exits non-zero at the first failure.
"use strict";

const assert = require("node:assert/strict");
const twilio = require("twilio");

const origin = process.env.SECINFO_URL;
const client = twilio(process.env.TWILIO_ACCOUNT_SID, process.env.TWILIO_AUTH_TOKEN);
client.verify.baseUrl = `${origin}/twilio`; // the one line a Twilio user changes

let counter = 200000 + Math.floor(Math.random() * 700000);
const newPhone = () => `+447400${counter++}`;
const newEmail = () => `node${counter++}@example.com`;

async function messages(to, count) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const answer = await fetch(`${origin}/dev/mailbox.json?to=${encodeURIComponent(to)}`);
    const found = (await answer.json()).messages;
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${count} message(s) did not reach ${to}`);
}

async function code(to, count = 1) {
  const body = (await messages(to, count))[0].body;
  const found = [...body.matchAll(/(?:code is: |#)([0-9A-Z]{4,10})\b/g)];
  assert.ok(found.length, `no code in ${body}`);
  return found[found.length - 1][1];
}

async function refused(call, expectedCode, expectedStatus) {
  try {
    await call();
  } catch (error) {
    assert.equal(error.code, expectedCode, error.message);
    assert.equal(error.status, expectedStatus, error.message);
    assert.equal(error.moreInfo, `https://www.twilio.com/docs/errors/${expectedCode}`);
    return error;
  }
  throw new Error(`expected Twilio error ${expectedCode}`);
}

const flows = {
  async services() {
    const created = [];
    for (let index = 0; index < 5; index++) {
      created.push(await client.verify.v2.services.create({ friendlyName: `Node ${index}` }));
    }
    assert.match(created[0].sid, /^VA[0-9a-f]{32}$/);
    assert.ok(created[0].dateCreated instanceof Date && !isNaN(created[0].dateCreated));
    const listed = await client.verify.v2.services.list({ pageSize: 2 });
    const names = listed.map((item) => item.friendlyName).filter((name) => name.startsWith("Node"));
    assert.deepEqual(names, ["Node 0", "Node 1", "Node 2", "Node 3", "Node 4"]);
    const updated = await client.verify.v2.services(created[0].sid).update({ codeLength: 7 });
    assert.equal(updated.codeLength, 7);
    for (const item of created) assert.equal(await client.verify.v2.services(item.sid).remove(), true);
    await refused(() => client.verify.v2.services(created[0].sid).fetch(), 20404, 404);
  },

  async smsCheckedByTo() {
    const service = await client.verify.v2.services.create({ friendlyName: "Node Shop", codeLength: 8 });
    const to = newPhone();
    const started = await client.verify.v2.services(service.sid).verifications.create({ to, channel: "sms" });
    assert.match(started.sid, /^VE[0-9a-f]{32}$/);
    assert.equal(started.status, "pending");
    const sent = await code(to);
    assert.match(sent, /^\d{8}$/);
    assert.ok((await messages(to, 1))[0].body.includes("Node Shop"));
    const checked = await client.verify.v2.services(service.sid).verificationChecks.create({ to, code: sent });
    assert.equal(checked.status, "approved");
    assert.equal(checked.valid, true);
    await refused(() => client.verify.v2.services(service.sid).verifications(started.sid).fetch(), 20404, 404);
    flows.service = service;
  },

  async emailResendAndLateCodeBySid() {
    const verifications = client.verify.v2.services(flows.service.sid).verifications;
    const to = newEmail();
    const first = await verifications.create({ to, channel: "email" });
    const early = await code(to);
    const second = await verifications.create({ to, channel: "email" });
    assert.equal(second.sid, first.sid);
    assert.equal(second.sendCodeAttempts.length, 2);
    await messages(to, 2);
    const checked = await client.verify.v2
      .services(flows.service.sid)
      .verificationChecks.create({ verificationSid: first.sid, code: early });
    assert.equal(checked.status, "approved");
  },

  async fiveWrongChecks() {
    const to = newPhone();
    const started = await client.verify.v2.services(flows.service.sid).verifications.create({ to, channel: "sms" });
    const sent = await code(to);
    const wrong = sent === "11111111" ? "22222222" : "11111111";
    const checks = client.verify.v2.services(flows.service.sid).verificationChecks;
    for (let index = 0; index < 5; index++) {
      assert.equal((await checks.create({ verificationSid: started.sid, code: wrong })).valid, false);
    }
    await refused(() => checks.create({ verificationSid: started.sid, code: sent }), 60202, 429);
  },

  async sixSends() {
    const to = newPhone();
    const verifications = client.verify.v2.services(flows.service.sid).verifications;
    for (let index = 0; index < 5; index++) await verifications.create({ to, channel: "sms" });
    await refused(() => verifications.create({ to, channel: "sms" }), 60203, 429);
  },

  async cancel() {
    const to = newPhone();
    const verifications = client.verify.v2.services(flows.service.sid).verifications;
    const started = await verifications.create({ to, channel: "sms" });
    const canceled = await verifications(started.sid).update({ status: "canceled" });
    assert.equal(canceled.status, "canceled");
    await refused(() => verifications(started.sid).fetch(), 20404, 404);
  },

  async errors() {
    const verifications = client.verify.v2.services(flows.service.sid).verifications;
    const error = await refused(() => verifications.create({ to: newPhone(), channel: "whatsapp" }), 60200, 400);
    assert.ok(error.message.includes("whatsapp"));
    await refused(() => verifications.create({ to: "not a number", channel: "sms" }), 60200, 400);
    await refused(() => verifications.create({ to: "+33612345678", channel: "sms" }), 60605, 403);
    const stranger = twilio(process.env.TWILIO_ACCOUNT_SID, "0".repeat(32));
    stranger.verify.baseUrl = `${origin}/twilio`;
    await refused(() => stranger.verify.v2.services(flows.service.sid).fetch(), 20003, 401);
  },

  async rateLimits() {
    const limits = client.verify.v2.services(flows.service.sid).rateLimits;
    const limit = await limits.create({ uniqueName: "node_user" });
    await limits(limit.sid).buckets.create({ max: 1, interval: 60 });
    const verifications = client.verify.v2.services(flows.service.sid).verifications;
    await verifications.create({ to: newPhone(), channel: "sms", rateLimits: { node_user: "n-1" } });
    await refused(
      () => verifications.create({ to: newPhone(), channel: "sms", rateLimits: { node_user: "n-1" } }),
      20429,
      429,
    );
  },

  async attempts() {
    const attempts = await client.verify.v2.verificationAttempts.list({ verifyServiceSid: flows.service.sid });
    assert.ok(attempts.length >= 5);
    const summary = await client.verify.v2.verificationAttemptsSummary().fetch({ verifyServiceSid: flows.service.sid });
    assert.equal(summary.totalAttempts, attempts.length);
    assert.ok(summary.totalConverted >= 2);
  },
};

(async () => {
  for (const [name, flow] of Object.entries(flows)) {
    if (typeof flow !== "function") continue;
    await flow();
    console.log(`ok ${name}`);
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
