// One server feature: everything it adds to the server, declared in one place. The registry
// (index.ts) lists the features; the host files, the package and unit lists, the service
// actions and their order derive from it (docs/design.md, "How to add a feature").

import type { ConfigKey, DomainSpec, MailSpec, ServiceName } from "../../model";
import type { DnsFacts, MailDnsRecord } from "../dns/record";
import type { HostFile, ServiceAction } from "../host/types";
import type { PruneRule } from "../plan/bundle";

export interface Feature {
    /** Its name in the registry's orders. */
    readonly name: string;
    /** The stack config keys it reads: its config section (each key is one feature's, or the program's). */
    readonly config?: readonly ConfigKey[];
    /** The services table's entries it answers (model/services.ts): the firewall opens them. */
    readonly services?: readonly ServiceName[];
    /** Debian packages: the user-data installs them at first boot, the packages step on every server. */
    readonly packages?: readonly string[];
    /** Units that carry the mail service: first boot starts them, the packages step starts any that is not running. */
    readonly units?: readonly string[];
    /** Units of our own that host-config brings, enables and starts; active on a provisioned server. */
    readonly laterUnits?: readonly string[];
    /**
     * Packages and units that only the packages step installs, and only when `on(spec)`: never
     * the user-data, so switching the feature on or off never replaces the server.
     */
    readonly optional?: {
        readonly on: (spec: MailSpec) => boolean;
        readonly packages: readonly string[];
        readonly units: readonly string[];
    };
    /** The service actions its files trigger, in the order apply-bundle runs them. */
    readonly actions?: readonly ServiceAction[];
    /** Files the user-data writes at first boot, and host-config keeps current. */
    readonly files?: (spec: MailSpec) => HostFile[];
    /** Files only host-config brings: nothing needs them sooner, and the user-data has no room. */
    readonly laterFiles?: (spec: MailSpec) => HostFile[];
    /** What host-config removes once it no longer renders it. */
    readonly prune?: readonly PruneRule[];
    /**
     * The DNS records it publishes in each mail domain (render/dns/dns-records.ts puts them
     * together in RECORD_ORDER): what it answers under the domain's names.
     */
    readonly dnsRecords?: (spec: MailSpec, domain: DomainSpec, facts: DnsFacts) => MailDnsRecord[];
}
