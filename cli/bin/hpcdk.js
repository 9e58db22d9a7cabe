#!/usr/bin/env node
// The hpcdk command. The sources are TypeScript, run through tsx without a build step.
import { register } from "tsx/esm/api";

process.env.CHECKPOINT_DISABLE ??= "1";
register();
await import("../main.ts");
