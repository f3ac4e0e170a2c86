import { app } from "../../tsup.preset.ts"

export default app(["src/main.ts"])
