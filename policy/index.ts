// mailstack's policy pack: `pulumi preview --policy-pack policy` (the pull-request workflow)
// holds every preview to the rules in policies.ts, mandatory unless a policy says otherwise
// (server-image-change-is-a-replacement is advisory: a warning), so a violation fails it.
//
// The Pulumi CLI runs this directory as a Node.js policy pack (PulumiPolicy.yaml): from here it
// resolves @pulumi/pulumi's run-policy-pack, which compiles this file with ts-node and
// tsconfig.json here. This directory has no node_modules of its own: @pulumi/policy and the
// provider SDKs resolve from the repository's node_modules (Node looks in parent
// directories), so the root `npm ci` is all it needs.

import { PolicyPack } from "@pulumi/policy";

import { POLICIES } from "./policies";

new PolicyPack("mailstack", {
    description:
        "What every mailstack deployment must keep: unproxied mail DNS, protected data, closed SSH, secret-free user-data, matching PTRs.",
    enforcementLevel: "mandatory",
    policies: [...POLICIES],
});
