// Fails fast when scripts would run on a Node older than the project supports (package.json "engines").
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`node ${process.version} is too old: @agg needs Node >= 22.19 (developed on 24 LTS)`)
  process.exit(1)
}
console.log(`node ${process.version} ok`)
