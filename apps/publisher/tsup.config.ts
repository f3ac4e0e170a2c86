import { app } from "../../tsup.preset.ts"

export default app(["src/index.ts", "src/bin.ts"])
