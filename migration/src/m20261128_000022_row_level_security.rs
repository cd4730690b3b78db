//! PostgreSQL row-level security: a shop's rows are unreachable from another shop's requests,
//! even through a query that forgets its `WHERE shop_id`.
//!
//! - Shop-scoped reads run in a transaction as role `creatorflow_shop` (no `BYPASSRLS`, `SELECT`
//!   only) with `creatorflow.shop_id` set for that transaction (`Database::read_as`). Its
//!   policies show rows whose `shop_id` is that setting (and, for tables without the column, rows
//!   whose order, run, job, subscription or key is visible); with the setting unset, nothing.
//! - Every table here also has `FORCE ROW LEVEL SECURITY`, so the owner is not exempt by
//!   accident; the engine and administrators (the role that ran this migration, which is the
//!   daemon's own) see and write every row through an explicit `creatorflow_engine` policy.
//!   (A superuser bypasses row-level security whatever the policies say.)
//!
//! SQLite has no roles: there the query layer filters by scope, and the same tests run.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The role shop-scoped reads run as.
pub const SHOP_ROLE: &str = "creatorflow_shop";

/// Each table with a shop's data and the condition that shows a row to its shop.
const TABLES: &[(&str, &str)] = &[
    ("shops", "id = current_setting('creatorflow.shop_id', true)"),
    (
        "orders",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "order_items",
        "EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id)",
    ),
    (
        "order_events",
        "EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id)",
    ),
    (
        "order_tags",
        "EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id)",
    ),
    (
        "webhook_inbox",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "workflow_runs",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "workflow_steps",
        "EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = run_id)",
    ),
    (
        "stock_levels",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "stock_reservations",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "shipments",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "webhook_subscriptions",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "notification_deliveries",
        "EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.id = subscription_id)",
    ),
    (
        "analytics_transitions",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "bulk_jobs",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "bulk_job_items",
        "EXISTS (SELECT 1 FROM bulk_jobs j WHERE j.id = job_id)",
    ),
    (
        "api_keys",
        "shop_id = current_setting('creatorflow.shop_id', true)",
    ),
    (
        "dashboard_sessions",
        "EXISTS (SELECT 1 FROM api_keys k WHERE k.id = key_id)",
    ),
    (
        "dashboard_views",
        "EXISTS (SELECT 1 FROM api_keys k WHERE k.id = key_id)",
    ),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{SHOP_ROLE}') THEN
                 CREATE ROLE {SHOP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
               END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- made meanwhile
             END $$;
             DO $$ BEGIN
               GRANT {SHOP_ROLE} TO CURRENT_USER;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;
             GRANT USAGE ON SCHEMA public TO {SHOP_ROLE};"
        ))
        .await?;
        for (table, visible) in TABLES {
            db.execute_unprepared(&format!(
                "GRANT SELECT ON {table} TO {SHOP_ROLE};
                 ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                 ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
                 CREATE POLICY creatorflow_engine ON {table} TO CURRENT_USER
                   USING (true) WITH CHECK (true);
                 CREATE POLICY creatorflow_shop ON {table} FOR SELECT TO {SHOP_ROLE}
                   USING ({visible});"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, _) in TABLES {
            db.execute_unprepared(&format!(
                "DROP POLICY IF EXISTS creatorflow_shop ON {table};
                 DROP POLICY IF EXISTS creatorflow_engine ON {table};
                 ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
                 ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
                 REVOKE SELECT ON {table} FROM {SHOP_ROLE};"
            ))
            .await?;
        }
        Ok(())
    }
}
