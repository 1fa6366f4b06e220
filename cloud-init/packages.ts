import packages from "./packages.json";

/** What the user-data installs on first boot; the lab pre-downloads exactly these. */
export const MAIL_PACKAGES: readonly string[] = Object.freeze([...packages.mail]);

/** What Hetzner's debian-13 image already has (the lab's image reproduces it). */
export const IMAGE_PACKAGES: readonly string[] = Object.freeze([...packages.image]);
