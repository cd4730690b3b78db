#!/usr/bin/env bash
# What a status change costs PostgreSQL once an order has its detail.
#
# `compare.sh`'s orders never get a detail (its shop has no token, so the detail fetcher never
# fetches), so every status change there rewrites a narrow row. In production the fetcher fetches
# each order's detail (jsonb, ~2 KB) soon after the order is created. Up to migration 37 it was
# kept on the order's row, `orders.detail`, and each later status change was an update of the
# whole row: PostgreSQL writes a new version of the row, and logs all of it unless the new
# version lands on the old one's page, where only the bytes between the unchanged prefix and
# suffix are logged. From migration 38 the detail has a table of its own, `order_details`, which
# a status change does not touch; the script measures whichever schema `$BIN` migrates to.
#
# This script measures the journal's narrow snapshot upsert (the statement shape of
# `src/journal/postgres.rs`, batches of 100 orders, a commit per batch) over ORDERS orders, on
# the daemon's own schema (`$BIN migrate up` into a scratch database), with no detail and with a
# realistic one (two line items and a recipient address, 2 KB of JSON; a build before migration
# 37 also stored the recipient in a column of its own, and gets it there too); then two layouts
# that would keep the row's detail out of the WAL:
#   fillfactor F on the daemon's table (room on the page for the new version),
#   the same columns with the volatile ones first and the detail last, at fillfactor F.
# It prints WAL bytes per update (exact: pg_current_wal_lsn) and wall time per update in one
# session (synchronous_commit off, so the time is the server's work, not the disk's flush), and
# the table's size after ROUNDS + 1 changes of every order.
# Usage: loadtest/detail-wal.sh [orders=20000] [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/.."

ORDERS=${1:-20000}
ROUNDS=${2:-3}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
BIN=${BIN:-target/release/creatorflow}
DB=cf_detail_wal
URL=${PG_URL%/*}/$DB
WORK=$(mktemp -d)
trap 'psql "$PG_URL" -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

[[ -x $BIN ]] || cargo build --release --bin creatorflow
psql "$PG_URL" -qc "drop database if exists $DB with (force)" -c "create database $DB"
CREATORFLOW__DATABASE__URL=$URL "$BIN" migrate up >"$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log"; exit 1; }

# ORDERS rows of (id, detail, recipient), tab-separated, as COPY reads them.
python3 - "$ORDERS" "$WORK/orders.tsv" <<'EOF'
import json, random, string, sys
random.seed(7)
n, path = int(sys.argv[1]), sys.argv[2]
def word(k): return ''.join(random.choice(string.ascii_lowercase) for _ in range(k))
def digits(k): return str(random.randint(10 ** (k - 1), 10 ** k - 1))
def recipient():
    return {"name": f"{word(6).title()} {word(8).title()}", "first_name": word(6).title(),
            "last_name": word(8).title(), "phone_number": f"(+1){digits(10)}",
            "address_line1": f"{random.randint(1, 9999)} {word(9).title()} Street",
            "address_line2": f"Apt {random.randint(1, 400)}", "postal_code": digits(5),
            "region_code": "US", "full_address": "",
            "district_info": [{"address_level_name": l, "address_name": a, "address_level": f"L{i}"}
                              for i, (l, a) in enumerate([("Country", "United States"), ("State", "Texas"),
                                                          ("County", word(7).title() + " County"),
                                                          ("City", word(6).title())])]}
def detail(r):
    return {"status": "AWAITING_SHIPMENT", "update_time": 1765000000 + random.randint(0, 10 ** 5),
            "create_time": 1765000000,
            "payment": {"currency": "USD", "total_amount": "49.98", "sub_total": "44.98",
                        "shipping_fee": "5.00", "seller_discount": "0", "platform_discount": "0",
                        "tax": "3.71"},
            "items": [{"id": digits(18), "sku_id": digits(19), "product_id": digits(19),
                       "seller_sku": "SKU-" + word(6).upper(),
                       "product_name": f"Organic cotton hoodie {word(8)} with kangaroo pocket",
                       "sku_name": "Size M, Sage", "sale_price": "22.49", "original_price": "29.99",
                       "sku_image": f"https://p16-oec-va.ibyteimg.com/tos-maliva-i-o3syd03w52-us/{word(32)}~tplv-o3syd03w52-origin-jpeg.jpeg",
                       "display_status": "AWAITING_SHIPMENT", "package_id": digits(18)} for _ in range(2)],
            "recipient": r, "rts_sla_time": 1765100000, "tts_sla_time": 1765200000,
            "delivery_sla_time": 1765600000, "packages": [digits(18)], "shipping_type": "TIKTOK",
            "order_type": "NORMAL"}
with open(path, "w") as f:
    for i in range(n):
        r = recipient()
        f.write(f"o{i:08d}\t{json.dumps(detail(r))}\t{json.dumps(r)}\n")
EOF
DETAIL_BYTES=$(python3 -c "import json,sys; print(len(open('$WORK/orders.tsv').readline().split('\t')[1]))")

# The daemon's columns, volatile ones first and the detail last (a layout the migration could
# give `orders`; here a table of its own, with the same indexes and no policies).
psql "$URL" -q <<'SQL'
create table orders_volatile_first (
  id varchar(64) not null primary key, shop_id varchar(64) not null,
  updated_at timestamptz not null, version bigint not null, tiktok_update_time bigint,
  status varchar(32) not null, stage varchar(32) not null, stage_reason text, held_from varchar(32),
  created_at timestamptz not null, tiktok_create_time bigint, total_amount bigint, sub_total bigint,
  shipping_fee bigint, seller_discount bigint, platform_discount bigint, tax bigint,
  rts_sla_at timestamptz, tts_sla_at timestamptz, delivery_sla_at timestamptz,
  currency varchar(3), detail jsonb);
create index on orders_volatile_first (shop_id, stage, updated_at, id);
create index on orders_volatile_first (shop_id, status, updated_at, id);
create index on orders_volatile_first (shop_id, updated_at, id);
create unlogged table load (id text, detail jsonb, recipient jsonb);
SQL
psql "$URL" -qc "\\copy load from '$WORK/orders.tsv'"

# measure TABLE FILLFACTOR WITH_DETAIL: one line of results.
measure() {
  local table=$1 fillfactor=$2 with_detail=$3 recipient='' recipient_value=''
  local detail=', detail' detail_value=", case when $with_detail then detail end" apart=false
  # From migration 38 the detail is kept in `order_details`, not on the order's row.
  if [[ $(psql "$URL" -Atc "select count(*) from information_schema.columns
                            where table_name = '$table' and column_name = 'detail'") == 0 ]]; then
    detail='' detail_value='' apart=$with_detail
  fi
  local apart_rows=''
  [[ $apart == true ]] && apart_rows='insert into order_details (order_id, detail) select id, detail from load;'
  # A build before migration 37 kept a second copy of the recipient in a column of its own.
  if [[ $(psql "$URL" -Atc "select count(*) from information_schema.columns
                            where table_name = '$table' and column_name = 'recipient'") == 1 ]]; then
    recipient=', recipient' recipient_value=", case when $with_detail then recipient end"
  fi
  psql "$URL" -qAt -v ON_ERROR_STOP=1 <<SQL
set synchronous_commit = off;
set client_min_messages = warning;
truncate $table cascade;
alter table $table set (fillfactor = $fillfactor);
insert into $table (id, shop_id, status, stage, version, created_at, updated_at$detail$recipient)
  select id, 'shop-1', 'AWAITING_SHIPMENT', 'new', 1, now(), now()$detail_value$recipient_value
  from load;
$apart_rows
vacuum analyze $table;
checkpoint;
create or replace procedure change_every_order(rounds int, first int) language plpgsql as \$\$
declare ids text[];
begin
  for r in first..first + rounds - 1 loop
    for b in 0..($ORDERS / 100 - 1) loop
      ids := array(select 'o' || lpad((b * 100 + g)::text, 8, '0') from generate_series(0, 99) g);
      insert into $table (id, shop_id, created_at, status, stage, version, updated_at)
        select i, 'shop-1', now(), 'STATUS_' || r, 'stage_' || r, r + 1, now() from unnest(ids) as u(i)
        on conflict (id) do update set status = excluded.status, stage = excluded.stage,
          version = excluded.version, updated_at = excluded.updated_at;
      commit;
    end loop;
  end loop;
end \$\$;
call change_every_order(1, 1);
select pg_current_wal_lsn() as lsn, clock_timestamp() as t0 \gset
call change_every_order($ROUNDS, 2);
select format('%-22s fillfactor %3s  %-28s WAL %5s B per status change, %5s µs each; table %s',
  '$table', $fillfactor, case when $apart then 'detail in order_details' when $with_detail then 'detail on the row'
    else 'no detail' end,
  round((pg_current_wal_lsn() - :'lsn'::pg_lsn) / ($ROUNDS * $ORDERS)::numeric),
  round((extract(epoch from clock_timestamp() - :'t0'::timestamptz) * 1e6 / ($ROUNDS * $ORDERS))::numeric, 1),
  pg_size_pretty(pg_table_size('$table')));
SQL
}

echo "$ORDERS orders, $ROUNDS status changes each measured (after one unmeasured); a detail is $DETAIL_BYTES bytes of JSON"
measure orders 100 false
measure orders 100 true
measure orders 70 true
measure orders 50 true
measure orders_volatile_first 100 true
measure orders_volatile_first 70 true
measure orders_volatile_first 50 true
