-- Makes FerretDB v1's equality filters use indexes. Applied to its PostgreSQL database by
-- `deploy/services.sh start`, every time (it is idempotent).
--
-- FerretDB pushes `{field: value}` down to PostgreSQL as `_jsonb -> 'field' @> '"value"'`,
-- but the indexes it creates for `createIndexes` are B-trees over `(_jsonb -> 'field')`,
-- which cannot serve `@>`: without this file every query, `_id` lookups included, reads the
-- whole table. A GIN index over the same expression can serve it. So every B-tree index
-- FerretDB makes on `_jsonb` gets one GIN index per key expression, made by an event trigger
-- as FerretDB creates the B-tree (and, for indexes that existed before, by the block at the
-- end). The application code stays plain MongoDB; on MongoDB itself none of this is needed.
--
-- FerretDB prepares its statements with the field name as a parameter (`_jsonb -> $1`). A
-- generic plan cannot match an index expression, so the database plans every execution with
-- the actual values (`plan_cache_mode = force_custom_plan`).

SET client_min_messages = warning;
ALTER DATABASE ferretdb SET plan_cache_mode = force_custom_plan;

CREATE OR REPLACE FUNCTION orders_equality_indexes_for(btree oid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  definition pg_index%ROWTYPE;
  table_name name;
  expression text;
  key integer;
BEGIN
  SELECT i.* INTO definition
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
   WHERE i.indexrelid = btree AND a.amname = 'btree';
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT relname INTO table_name FROM pg_class WHERE oid = definition.indrelid;
  FOR key IN 1 .. definition.indnkeyatts LOOP
    expression := pg_get_indexdef(btree, key, false);
    IF expression LIKE '((_jsonb -> %))' THEN
      EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s jsonb_path_ops)',
        left(table_name, 40) || '_' || left(md5(expression), 12) || '_eq',
        definition.indrelid::regclass,
        expression
      );
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION orders_equality_indexes_on_create() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  created record;
BEGIN
  FOR created IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE object_type = 'index' LOOP
    PERFORM orders_equality_indexes_for(created.objid);
  END LOOP;
END
$$;

DROP EVENT TRIGGER IF EXISTS orders_equality_indexes;
CREATE EVENT TRIGGER orders_equality_indexes ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION orders_equality_indexes_on_create();

DO $$
DECLARE
  existing record;
BEGIN
  FOR existing IN
    SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  LOOP
    PERFORM orders_equality_indexes_for(existing.indexrelid);
  END LOOP;
END
$$;
