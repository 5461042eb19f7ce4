export { Catalog, openCatalog } from './catalog.js';
export type { RowStage } from './row-stage.js';
export type { OpenCatalogOptions } from './open.js';
export { defaultCatalogPath } from './paths.js';
export { LATEST_SCHEMA_VERSION, migrations } from './migrations.js';
export type { Migration } from './migrations.js';
export { isoFromMs, toIso } from './time.js';
export type { TimeInput } from './time.js';
export type * from './types.js';
