// postsrsd: the sender rewriting scheme for forwarded mail (its settings come with mail-data).

import type { Feature } from "./feature";

export const srs: Feature = {
    name: "srs",
    packages: ["postsrsd"],
    units: ["postsrsd"],
    actions: ["restart:postsrsd"],
};
