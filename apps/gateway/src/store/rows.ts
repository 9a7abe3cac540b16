// store: reading entity rows with plain SQL on the hot paths. A repository's findOneBy builds its query
// anew on every call (query builder, aliases, metadata walks: ~0.2 ms of CPU each, the larger part of a
// job's own work); here the SELECT is built once per entity and set of keys, runs as a kept statement, and
// each value is hydrated by the driver's own prepareHydratedValue, so a row comes back exactly as the
// repository would return it (simple-json parsed, transformers applied). TypeORM still owns the schema.
import type { DataSource, EntitySchema } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { SqlTx } from './index.js';

export interface EntityRows<T> {
  /** `"a", "b"`: every column of the entity. */
  readonly columns: string;
  /** `SELECT "a", "b" FROM "table"`. */
  readonly select: string;
  readonly columnOf: ReadonlyMap<string, string>;
  readonly where: Map<string, string>;
  from(raw: Record<string, unknown>): T;
}

const byDataSource = new WeakMap<DataSource, Map<EntitySchema<unknown>, EntityRows<unknown>>>();

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** How rows of `entity` are selected and hydrated on this data source (built once). */
export function entityRows<T>(dataSource: DataSource, entity: EntitySchema<T>): EntityRows<T> {
  let entities = byDataSource.get(dataSource);
  if (!entities) {
    entities = new Map();
    byDataSource.set(dataSource, entities);
  }
  const kept = entities.get(entity as EntitySchema<unknown>);
  if (kept) return kept as EntityRows<T>;
  const metadata = dataSource.getMetadata(entity);
  const { driver } = dataSource;
  const columns: readonly ColumnMetadata[] = metadata.columns;
  const list = columns.map((c) => quote(c.databaseName)).join(', ');
  const rows: EntityRows<T> = {
    columns: list,
    select: `SELECT ${list} FROM ${quote(metadata.tableName)}`,
    columnOf: new Map(columns.map((c) => [c.propertyName, c.databaseName])),
    where: new Map(),
    from(raw) {
      const row: Record<string, unknown> = {};
      for (const column of columns)
        row[column.propertyName] = driver.prepareHydratedValue(raw[column.databaseName], column);
      return row as T;
    },
  };
  entities.set(entity as EntitySchema<unknown>, rows as EntityRows<unknown>);
  return rows;
}

/**
 * The one row of `entity` whose columns equal `where` (like a repository's findOneBy with plain values),
 * or null. `db` is a transaction (Tx) or the store's reads outside one (Store.reads).
 */
export async function findRow<T>(
  db: Pick<SqlTx, 'all'>,
  dataSource: DataSource,
  entity: EntitySchema<T>,
  where: Partial<T>,
): Promise<T | null> {
  const [row] = await findRows(db, dataSource, entity, where, 1);
  return row ?? null;
}

/** Every row of `entity` whose columns equal `where` (a repository's findBy), or the first `limit`. */
export async function findRows<T>(
  db: Pick<SqlTx, 'all'>,
  dataSource: DataSource,
  entity: EntitySchema<T>,
  where: Partial<T>,
  limit?: number,
): Promise<T[]> {
  const rows = entityRows(dataSource, entity);
  const keys = Object.keys(where);
  const signature = `${keys.join(',')}|${limit ?? ''}`;
  let sql = rows.where.get(signature);
  if (sql === undefined) {
    const conditions = keys.map((key) => {
      const column = rows.columnOf.get(key);
      if (!column) throw new Error(`${String(entity.options.name)} has no column ${key}`);
      return `${quote(column)} = ?`;
    });
    sql = `${rows.select} WHERE ${conditions.join(' AND ')}${limit === undefined ? '' : ` LIMIT ${limit}`}`;
    rows.where.set(signature, sql);
  }
  const raw = await db.all(
    sql,
    keys.map((key) => (where as Record<string, unknown>)[key]),
  );
  return raw.map((r) => rows.from(r));
}

/** The most rows a kept multi-row statement text is built for (a batch of exam arrivals holds at most 256). */
const KEPT_ROW_COUNTS = 256;

/**
 * `INSERT … VALUES (row), (row), … tail` for any number of rows, each text built once per number of rows and
 * kept: a batch's statement is then the very same string every time, whose hash V8 keeps with it, so the
 * store's cache of prepared statements finds it without hashing kilobytes of SQL, and nothing is joined per
 * batch (BENCHMARKS.md, session 15).
 */
export function multiRowInsert(head: string, row: string, tail: string): (rows: number) => string {
  const kept: string[] = [];
  const build = (rows: number) =>
    `${head} VALUES ${Array.from({ length: rows }, () => row).join(', ')} ${tail}`;
  return (rows) => {
    if (rows > KEPT_ROW_COUNTS) return build(rows);
    let text = kept[rows];
    if (text === undefined) {
      text = build(rows);
      kept[rows] = text;
    }
    return text;
  };
}

/**
 * A condition checked on the rows a statement finds by its key, never an index to search by. SQLite keeps no
 * statistics here, so for `<key> = ? AND state = ?` it may walk an index on the state instead of the key: every
 * row in that state read to find one (outbox jobs: idx_outbox_due, session 6; exams: idx_exams_state, session
 * 19; BENCHMARKS.md). A CASE is not indexable, on either dialect.
 */
export const checkedOnRow = (condition: string): string => `CASE WHEN ${condition} THEN 1 ELSE 0 END = 1`;

/**
 * The gateway's own constants (states, kinds) as SQL string literals for an `IN (…)`: `'a', 'b'`. Where a literal
 * must be in the text, not a parameter (a partial index's condition is matched term for term; a statement built
 * once). Not for values from outside: a quote in one is refused, never escaped.
 */
export function quotedList(values: readonly string[]): string {
  return values
    .map((value) => {
      if (value.includes("'")) throw new Error(`not a SQL constant: ${value}`);
      return `'${value}'`;
    })
    .join(', ');
}
