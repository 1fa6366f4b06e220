// Where every daemon reads the host's certificate: the first boot puts a temporary
// self-signed one here, certbot's deploy hook replaces it, so no config file ever changes
// when the real certificate arrives (docs/design.md, "What goes where on the server").

export const TLS_DIR = "/etc/mailstack/tls";
