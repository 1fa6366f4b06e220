// Full-text search (issue 31): Dovecot's fts with the flatcurve backend (Xapian). Its settings
// are a section of dovecot.conf (the dovecot feature's file: one file, as Dovecot reads it);
// the indexes stay out of the backup (render/host/backup.ts) and mailstack-restore queues
// their rebuild.

import type { Feature } from "./feature";

export const search: Feature = {
    name: "search",
    packages: ["dovecot-flatcurve"],
};
