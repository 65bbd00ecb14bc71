import { Names, Stack, Token } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { partitionKeys, SENSOR_PARTITION_KEY } from './firehose-partitioning';
import { FullPayloadMapping } from './payload';

/** One column of the archive table: its Glue type, and the payload field it is read from. */
export interface ArchiveColumn {
  readonly name: string;
  readonly type: 'string' | 'double';
  readonly field: string;
}

/** A payload field that can be a column: Glue folds names to lower case, and the OpenX JSON reader lower-cases keys. */
const COLUMN_FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * The columns of the Parquet archive, from the payload mapping: `sensor_id`
 * and `event_time` (the time as the device sent it, text or number, kept as
 * text: Firehose's JSON reader takes only some ISO-8601 forms as timestamps),
 * then `value`, or one column per measurement field, as doubles. Throws,
 * naming the mapping field, when a field cannot be read into a column.
 */
export function archiveColumns(mapping: FullPayloadMapping, prop: string): ArchiveColumn[] {
  const columns: ArchiveColumn[] = [
    { name: 'sensor_id', type: 'string', field: mapping.sensorIdField },
    { name: 'event_time', type: 'string', field: mapping.timestampField },
    ...(mapping.measurementFields.length === 0
      ? [{ name: 'value', type: 'double' as const, field: mapping.valueField }]
      : mapping.measurementFields.map((field) => ({ name: field.toLowerCase(), type: 'double' as const, field }))),
  ];
  const reserved = new Set([...partitionKeys(true), 'sensor_id', 'event_time']);
  const seen = new Map<string, string>();
  for (const column of columns) {
    const where = `${prop}: payloadMapping field "${column.field}"`;
    if (Token.isUnresolved(column.field)) {
      throw new Error(`${where} is a token; the Parquet archive's columns are written at synth time and need plain field names`);
    }
    if (!COLUMN_FIELD.test(column.field)) {
      throw new Error(`${where} cannot be read into a Parquet column: a field name must be letters, digits and underscores, `
        + 'not starting with a digit, at most 128 characters');
    }
    const key = column.field.toLowerCase();
    const other = seen.get(key);
    if (other !== undefined) {
      throw new Error(`${where} and "${other}" differ only in case; Firehose's JSON reader lower-cases keys, so they would fill one column`);
    }
    seen.set(key, column.field);
  }
  for (const column of columns.slice(2)) {
    if (reserved.has(column.name) && mapping.measurementFields.length > 0) {
      throw new Error(`${prop}: payloadMapping measurement field "${column.field}" would be the column ${column.name}, which the archive table `
        + `already has (${[...reserved].join(', ')})`);
    }
  }
  return columns;
}

/** Glue and Athena take lower-case names of letters, digits and underscores. */
const GLUE_NAME = /^[a-z0-9_]{1,255}$/;

export function validateGlueName(prop: string, name: string | undefined): void {
  if (name === undefined || Token.isUnresolved(name)) return;
  if (!GLUE_NAME.test(name)) throw new Error(`${prop} must be 1 to 255 lower-case letters, digits and underscores (Athena's rule), got "${name}"`);
}

export interface ArchiveTableProps {
  readonly bucket: s3.IBucket;
  readonly prefix: string;
  readonly columns: ArchiveColumn[];
  readonly bySensor: boolean;
  readonly databaseName?: string;
  readonly tableName?: string;
}

/**
 * A Glue database and an external Parquet table over the archive, its
 * partitions found by partition projection from the S3 layout, so that
 * Athena queries the archive without a crawler or `MSCK REPAIR TABLE`.
 */
export function createArchiveTable(scope: Construct, props: ArchiveTableProps): { database: glue.CfnDatabase; table: glue.CfnTable } {
  const account = Stack.of(scope).account;
  const database = new glue.CfnDatabase(scope, 'Database', {
    catalogId: account,
    databaseInput: {
      name: props.databaseName ?? Names.uniqueResourceName(scope, { maxLength: 64, separator: '_' }).toLowerCase().replace(/[^a-z0-9_]/g, '_'),
      description: 'Sensor readings archived by Amazon Data Firehose',
    },
  });
  const location = `s3://${props.bucket.bucketName}/${props.prefix}`;
  const keys = partitionKeys(props.bySensor);
  const projection: Record<string, string> = {
    'projection.enabled': 'true',
    // Any year a reading can carry from 1970; a query should name the years it reads.
    'projection.year.type': 'integer',
    'projection.year.range': '1970,2099',
    'projection.month.type': 'integer',
    'projection.month.range': '1,12',
    'projection.month.digits': '2',
    'projection.day.type': 'integer',
    'projection.day.range': '1,31',
    'projection.day.digits': '2',
    'projection.hour.type': 'integer',
    'projection.hour.range': '0,23',
    'projection.hour.digits': '2',
    ...(props.bySensor ? { [`projection.${SENSOR_PARTITION_KEY}.type`]: 'injected' } : {}),
    'storage.location.template': location + keys.map((key) => `${key}=\${${key}}/`).join(''),
  };
  const table = new glue.CfnTable(scope, 'Table', {
    catalogId: account,
    databaseName: database.ref,
    tableInput: {
      name: props.tableName ?? 'readings',
      description: 'Sensor readings as the devices sent them, one row per record, partitioned by hour of event time',
      tableType: 'EXTERNAL_TABLE',
      parameters: { 'classification': 'parquet', 'parquet.compression': 'SNAPPY', ...projection },
      partitionKeys: keys.map((name) => ({ name, type: 'string' })),
      storageDescriptor: {
        location,
        inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
        outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
        serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        columns: props.columns.map(({ name, type }) => ({ name, type })),
      },
    },
  });
  return { database, table };
}
