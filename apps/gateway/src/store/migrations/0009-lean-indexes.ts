import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fewer B-trees to update per write (each exam's arrival and each job's step touched every index of its table;
 * BENCHMARKS.md, session 6).
 *
 * Expired leases are looked for among running jobs only: idx_outbox_lease keeps only those (partial), so a
 * job's arrival, and its completion, no longer write an entry for a lease it does not have. The claim's
 * `state = 'running' AND locked_until < ?` is what both dialects match a partial index against.
 *
 * SQLite: the primary key's index of exams leads with exam_id (sqlite_autoindex_exams_1 is (exam_id,
 * tenant_key): the table was rebuilt so in 0005), so idx_exams_exam_id only doubled it. Dropped when that is
 * so; PostgreSQL's key leads with tenant_key and keeps the index.
 */
export class LeanIndexes1764000000009 implements MigrationInterface {
  name = 'LeanIndexes1764000000009';

  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS idx_outbox_lease');
    await q.query(`CREATE INDEX idx_outbox_lease ON outbox_jobs (locked_until) WHERE state = 'running'`);
    if (q.connection.options.type !== 'postgres' && (await primaryKeyLeadsWithExamId(q)))
      await q.query('DROP INDEX IF EXISTS idx_exams_exam_id');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX IF NOT EXISTS idx_exams_exam_id ON exams (exam_id)');
    await q.query('DROP INDEX IF EXISTS idx_outbox_lease');
    await q.query('CREATE INDEX idx_outbox_lease ON outbox_jobs (state, locked_until)');
  }
}

async function primaryKeyLeadsWithExamId(q: QueryRunner): Promise<boolean> {
  const rows: Array<{ name: string }> = await q.query(
    `SELECT ii.name AS name FROM pragma_index_list('exams') AS il, pragma_index_info(il.name) AS ii
     WHERE il.origin = 'pk' AND ii.seqno = 0`,
  );
  return rows[0]?.name === 'exam_id';
}
