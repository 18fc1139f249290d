/**
 * Region checks made before anything is sent to a device. They belong to
 * the regions, so they live in src/image/region.ts; the planner reaches them
 * through this module.
 * @module
 */

export { validateRegions } from "../image/region.ts";
export { RegionError } from "../image/errors.ts";
