import { library } from "../../tsup.preset.ts"

// Two entries: "@agg/storage" never loads PGlite, "@agg/storage/pglite" holds it. The Lua scripts are read at run
// time through the package's "./redis/scripts/*.lua" export (see src/redis/Scripts.ts), which is shipped in src/.
export default library(["src/index.ts", "src/pglite.ts"])
