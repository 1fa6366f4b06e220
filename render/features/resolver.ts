// unbound: the host's own validating resolver (DANE needs DNSSEC answers we checked ourselves).

import { renderResolverFiles } from "../host/outbound";
import type { Feature } from "./feature";

export const resolver: Feature = {
    name: "resolver",
    config: ["resolver"],
    packages: ["unbound"],
    units: ["unbound"],
    actions: ["restart:unbound"],
    laterFiles: (spec) => renderResolverFiles(spec),
};
