// The bench's command line and how much it does (bench/run.ts says what the options mean).

import * as path from "node:path";
import { REPO_DIR } from "../lab/harness/processes";
import { LAB_PASSWORDS } from "../lab/lab-config";

export const BENCH_DIR = __dirname;
const argv = process.argv.slice(2);
const option = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
export const smoke = argv.includes("--smoke");
if (argv.includes("--secondary")) {
    // The lab the bench stands up has the backup MX (lab/lab-config.ts labHasSecondary), for its hand-over.
    process.env.MAILSTACK_LAB_SECONDARY = "1";
}
export const runs = Number(option("--runs") ?? (smoke ? 1 : 3));
export const only = option("--only");
export const outFile = path.resolve(
    option("--out") ?? path.join(REPO_DIR, smoke ? "bench-smoke.json" : "bench-results.json"),
);

/** How much of everything: the full bench, or the smoke that only proves it still runs. */
export const SIZE = smoke
    ? {
          ceiling: 2000,
          burst: 200,
          sessions: 20,
          submission: 40,
          perConnection: 10,
          tableAddresses: 1000,
          tableBurst: 100,
          movein: { old: 200, mailbox: 400, deliveries: 50 },
          handover: 10,
          evaluations: [
              [1, 5],
              [2, 5],
              [1, 50],
          ],
      }
    : {
          ceiling: 10000,
          burst: 1000,
          sessions: 20,
          submission: 200,
          perConnection: 20,
          tableAddresses: 10000,
          tableBurst: 300,
          movein: { old: 10_000, mailbox: 20_000, deliveries: 500 },
          handover: 100,
          evaluations: [
              [1, 5],
              [10, 5],
              [100, 5],
              [1, 1000],
          ],
      };
export const MESSAGE_BYTES = 4096;
/** The lab's mailboxes, by Maildir ("example.org/alice") and address. */
export const MAILBOXES = Object.keys(LAB_PASSWORDS).map((a) => ({
    address: a,
    box: `${a.split("@")[1]}/${a.split("@")[0]}`,
}));
export const ALICE = "alice@example.org";
