import { library } from "../../tsup.preset.ts"

export default library(["src/index.ts"])
