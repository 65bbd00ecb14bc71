export * from './options';
export * from './payload-mapping';
export * from './pipeline-interfaces';
export * from './pipeline-monitoring';
export * from './sensor-ingest-pipeline';
export * from './processors';
export * from './archivers';
export * from './dead-letter-destination';
