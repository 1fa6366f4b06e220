// One DKIM signing key per mail domain. The public half goes into DNS and the private half
// to OpenDKIM, from the same resource: the published key is the installed key by construction.

import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

import type { MailSpec } from "../spec";

export interface DkimKeysArgs {
    /** The validated configuration; one key per domain. */
    readonly spec: MailSpec;
}

export class DkimKeys extends pulumi.ComponentResource {
    /** Domain -> PEM public key ("PUBLIC KEY"), published in DNS. */
    public readonly publicKeysPem: Record<string, pulumi.Output<string>>;
    /** Domain -> PEM private key (secret), delivered over SSH stdin only. */
    public readonly privateKeysPem: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: DkimKeysArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mailstack:dkim:DkimKeys", name, {}, opts);
        this.publicKeysPem = {};
        this.privateKeysPem = {};
        for (const domain of args.spec.domains) {
            // RSA 2048: what every verifier supports (ed25519 DKIM is not widely verified yet)
            // and still fits a TXT record without splitting trouble.
            const key = new tls.PrivateKey(
                `${name}-${domain.name}`,
                { algorithm: "RSA", rsaBits: 2048 },
                { parent: this },
            );
            this.publicKeysPem[domain.name] = key.publicKeyPem;
            this.privateKeysPem[domain.name] = pulumi.secret(key.privateKeyPem);
        }
        this.registerOutputs({ publicKeysPem: this.publicKeysPem });
    }
}
