// Runs inside an earlier mailstack's tree (lab/harness/earlier.ts unpacks it from git and
// runs this there with tsx), so everything below is that commit's own code: its lab config,
// its buildSpec, its user-data renderer, its provisioning plan and its scripts. It prints
// one JSON object: the raw config, the user-data and every plan step as `pulumi up` would
// send it (command text and stdin). The paths are the earlier commit's layout (spec/,
// cloud-init/), whatever today's tree calls them.
"use strict";
const { labRawConfig, labUserData, LAB_PASSWORDS } = require("./lab/lab-config");
const { labPlanInputs } = require("./lab/provision");
const { PROVISIONING_PLAN } = require("./cloud-init/plan");
const { buildSpec } = require("./spec");

// {"mailboxQuotas": {"example.net": {"carol": "1M"}}, "backupPath": "..."}: the lab config
// as the check sets it.
const patch = JSON.parse(process.env.MAILSTACK_EARLIER_PATCH || "{}");
const raw = labRawConfig();
if (patch.backupPath) raw.backup = { ...raw.backup, sftp: { ...raw.backup.sftp, path: patch.backupPath } };
raw.domains = raw.domains.map((d) =>
    patch.mailboxQuotas && patch.mailboxQuotas[d.name]
        ? { ...d, mailboxQuotas: { ...d.mailboxQuotas, ...patch.mailboxQuotas[d.name] } }
        : d,
);
const spec = buildSpec(raw);
const inputs = labPlanInputs(spec, LAB_PASSWORDS);
process.stdout.write(
    JSON.stringify({
        raw,
        hostname: spec.hostname,
        userData: labUserData(spec),
        steps: PROVISIONING_PLAN.map((step) => ({
            role: step.role,
            command: step.command(),
            stdin: step.stdin ? step.stdin(spec, inputs) : undefined,
            pin: step.pin,
            waitsFor: step.waitsFor,
        })),
    }),
);
