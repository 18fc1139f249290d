#!/usr/bin/env -S deno run -A
/**
 * The espdelta command line.
 * @module
 */
import { main } from "./src/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
