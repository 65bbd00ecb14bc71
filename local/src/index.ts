export * from './servers';
export * from './shard-reader';
export * from './lambda-events';
export * from './simulated-mapping';
export * from './fake-cloudwatch';
export * from './fault-proxy';
export * from './device-records';
export * from './cpu-limit';
