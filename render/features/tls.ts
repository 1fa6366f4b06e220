// TLS for every daemon: the first boot makes a temporary self-signed certificate (openssl)
// at /etc/mailstack/tls/ until certbot's arrives; the CA bundle verifies other servers.

import type { Feature } from "./feature";

export const tls: Feature = {
    name: "tls",
    packages: ["openssl", "ca-certificates"],
};
