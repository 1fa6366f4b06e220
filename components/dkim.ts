// DKIM signing keys: one per mail domain and selector. The public half goes into DNS and the
// private half to OpenDKIM, from the same resource: the published key is the installed key
// by construction. A rotation (README "Rotating a DKIM key") keeps the keys of retired
// selectors until their last published day, for their DNS records only: OpenDKIM gets the
// signing key alone, and the dkim step removes the others from the server.

import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

import { publishedRetiredSelectors, type MailSpec } from "../model";

export interface DkimKeysArgs {
    /** The validated configuration; one key per domain and published selector. */
    readonly spec: MailSpec;
    /** Which retired selectors are still published is decided on this day (default: today). */
    readonly now?: Date;
}

export class DkimKeys extends pulumi.ComponentResource {
    /** Domain -> PEM public key ("PUBLIC KEY") of the signing selector, published in DNS. */
    public readonly publicKeysPem: Record<string, pulumi.Output<string>>;
    /** Domain -> PEM private key (secret) of the signing selector, delivered over SSH stdin only. */
    public readonly privateKeysPem: Record<string, pulumi.Output<string>>;
    /** Domain -> retired selector still published -> PEM public key. */
    public readonly retiredPublicKeysPem: Record<string, Record<string, pulumi.Output<string>>>;

    constructor(name: string, args: DkimKeysArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mailstack:dkim:DkimKeys", name, {}, opts);
        this.publicKeysPem = {};
        this.privateKeysPem = {};
        this.retiredPublicKeysPem = {};
        for (const domain of args.spec.domains) {
            const retired = publishedRetiredSelectors(domain, args.now);
            const over = domain.dkimRetired.filter((r) => !retired.includes(r.selector));
            for (const r of over)
                void pulumi.log.warn(
                    `mailstack:domains ${domain.name}: the DKIM selector ${r.selector} was published until ${r.until}; its record and key are removed, and it can go from dkimRetiredSelectors`,
                    this,
                );
            // Before keys were named by selector there was one per domain, `<name>-<domain>`:
            // it is the key of the selector configured then. That is the signing selector,
            // unless this very change starts a rotation (one retired selector): then it is
            // the retired one, and the new selector gets a new key.
            const legacyOwner = retired.length === 1 ? retired[0] : domain.dkimSelector;
            const key = (selector: string) =>
                new tls.PrivateKey(
                    `${name}-${domain.name}-${selector}`,
                    // RSA 2048: what every verifier supports (ed25519 DKIM is not widely
                    // verified yet) and still fits a TXT record without splitting trouble.
                    { algorithm: "RSA", rsaBits: 2048 },
                    {
                        parent: this,
                        ...(selector === legacyOwner ? { aliases: [{ name: `${name}-${domain.name}` }] } : {}),
                    },
                );
            const signing = key(domain.dkimSelector);
            this.publicKeysPem[domain.name] = signing.publicKeyPem;
            this.privateKeysPem[domain.name] = pulumi.secret(signing.privateKeyPem);
            this.retiredPublicKeysPem[domain.name] = Object.fromEntries(
                retired.map((selector) => [selector, key(selector).publicKeyPem]),
            );
        }
        this.registerOutputs({ publicKeysPem: this.publicKeysPem, retiredPublicKeysPem: this.retiredPublicKeysPem });
    }
}
