//! Byte-order comparison for the keys the engine writes and probes on every change (PostgreSQL
//! only; SQLite compares bytes already).
//!
//! Under the database's collation (`C.UTF-8`, `en_US.UTF-8`, …) every comparison of two of
//! these strings goes through the locale (`strcoll`): each index entry a batch inserts, each
//! dedupe probe and each `= ANY(…)` array, which PostgreSQL sorts before it walks the index.
//! Order ids, shop ids, dedupe keys, statuses and stages are identifiers, never sorted for a
//! person, so they compare as bytes (`COLLATE "C"`): 10% less PostgreSQL CPU per webhook at 256
//! connections (docs/PERFORMANCE.md, session 22). The columns keep their types; their indexes
//! are rebuilt. Row-level-security policies name some of these columns, so every policy of the
//! schema is dropped first and made again, as it was, after.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The key columns: every order id, shop id and dedupe key of the schema (so that a join of
/// two never compares under two collations, which would leave one side's index unused), the
/// ids of orders and shops, and the status and stage the order lists' indexes hold.
const KEYS: &str = "\
SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
JOIN pg_tables t ON t.schemaname = c.table_schema AND t.tablename = c.table_name \
WHERE c.table_schema = current_schema() AND c.data_type = 'character varying' \
AND c.column_name IN ('order_id', 'shop_id', 'dedupe_key') \
UNION ALL VALUES ('orders', 'id'), ('shops', 'id'), ('orders', 'status'), ('orders', 'stage')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "\"C\"").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "pg_catalog.\"default\"").await
    }
}

/// Gives every column of [`KEYS`] `collation`, keeping its type and the schema's policies.
async fn collate(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!(
            r#"
DO $$
DECLARE
  p record;
  k record;
BEGIN
  CREATE TEMP TABLE saved_policies ON COMMIT DROP AS
    SELECT * FROM pg_policies WHERE schemaname = current_schema();
  FOR p IN SELECT * FROM saved_policies LOOP
    EXECUTE format('DROP POLICY %I ON %I', p.policyname, p.tablename);
  END LOOP;
  FOR k IN SELECT v.t, v.col, format_type(a.atttypid, a.atttypmod) AS ty
      FROM ({KEYS}) AS v(t, col)
      JOIN pg_attribute a ON a.attrelid = v.t::regclass AND a.attname = v.col LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE %s COLLATE {collation}', k.t, k.col, k.ty);
  END LOOP;
  FOR p IN SELECT * FROM saved_policies LOOP
    EXECUTE format('CREATE POLICY %I ON %I AS %s FOR %s TO %s%s%s', p.policyname, p.tablename,
      p.permissive, p.cmd, (SELECT string_agg(quote_ident(r), ', ') FROM unnest(p.roles) AS r),
      CASE WHEN p.qual IS NULL THEN '' ELSE ' USING (' || p.qual || ')' END,
      CASE WHEN p.with_check IS NULL THEN '' ELSE ' WITH CHECK (' || p.with_check || ')' END);
  END LOOP;
  DROP TABLE saved_policies;
END $$;
"#
        ))
        .await?;
    Ok(())
}
